// Private endpoints (main.bicep, networkIsolation=true) in network.bicep's private-endpoints subnet:
// blob, queue and table of the function app's storage account (the Functions host uses blobs for the
// timer's leases and keys, the deployment container holds the package; queue and table for host features
// that need them), and the Key Vault that holds the Databricks tokens (the new one, or an existing one:
// docs/deploy.md, "Private networking"). Each endpoint registers its A record in the matching private
// DNS zone through a zone group, so <account>.blob.core.windows.net and <vault>.vault.azure.net resolve
// to private addresses inside the virtual network.

@description('Azure region of the endpoints (the virtual network\'s).')
param location string

@description('Tags for every resource.')
param tags object

@description('Resource id of the private-endpoints subnet.')
param subnetId string

@description('Private DNS zone ids by service: blob, queue, table, vault (network.bicep).')
param dnsZoneIds object

@description('Resource id of the storage account.')
param storageAccountId string

@description('Resource id of the Key Vault (may be in another resource group of the subscription).')
param keyVaultId string

var endpoints = [
  {
    name: 'pe-${last(split(storageAccountId, '/'))}-blob'
    target: storageAccountId
    groupId: 'blob'
    zone: dnsZoneIds.blob
  }
  {
    name: 'pe-${last(split(storageAccountId, '/'))}-queue'
    target: storageAccountId
    groupId: 'queue'
    zone: dnsZoneIds.queue
  }
  {
    name: 'pe-${last(split(storageAccountId, '/'))}-table'
    target: storageAccountId
    groupId: 'table'
    zone: dnsZoneIds.table
  }
  {
    name: 'pe-${last(split(keyVaultId, '/'))}-vault'
    target: keyVaultId
    groupId: 'vault'
    zone: dnsZoneIds.vault
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for endpoint in endpoints: {
  name: endpoint.name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: endpoint.name
        properties: {
          privateLinkServiceId: endpoint.target
          groupIds: [
            endpoint.groupId
          ]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (endpoint, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: endpoint.groupId
        properties: {
          privateDnsZoneId: endpoint.zone
        }
      }
    ]
  }
}]
