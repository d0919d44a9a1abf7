// Private networking (main.bicep, networkIsolation=true): a virtual network with two subnets, and the
// private DNS zones that make the storage account's and the Key Vault's names resolve to their private
// endpoints inside it.
//
// - `app`: the function app's virtual network integration. Flex Consumption requires a subnet delegated
//   to Microsoft.App/environments (not Microsoft.Web/serverFarms as on other plans); the site joins it
//   through `virtualNetworkSubnetId` (function-app.bicep). Once integrated, the app's outbound traffic
//   (Microsoft Graph, the Databricks workspaces, storage, Key Vault, telemetry) leaves through this subnet,
//   so its network security group and any route table you add apply to it. A /25 leaves room for the up
//   to 40 addresses one Flex Consumption app may take.
// - `private-endpoints`: the private endpoints (private-endpoints.bicep).
//
// The zones are linked to the virtual network (no auto-registration). Names follow
// https://learn.microsoft.com/azure/private-link/private-endpoint-dns ("Azure services DNS zone
// configuration"), built from environment() so that sovereign clouds get theirs.

@description('Azure region of the virtual network (the function app\'s region: integration needs both in one region).')
param location string

@description('Tags for every resource.')
param tags object

@description('Virtual network name.')
param name string

@description('Address space of the virtual network, /24 or larger: the app subnet is its first /25, the private endpoint subnet the /26 after it.')
param addressPrefix string

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

// privatelink.blob.core.windows.net, ... and privatelink.vaultcore.azure.net in Azure's public cloud.
var storageSuffix = environment().suffixes.storage
var dnsZoneNames = {
  blob: 'privatelink.blob.${storageSuffix}'
  queue: 'privatelink.queue.${storageSuffix}'
  table: 'privatelink.table.${storageSuffix}'
  vault: 'privatelink${replace(environment().suffixes.keyvaultDns, 'vault', 'vaultcore')}'
}

// No rules of its own: the default rules allow traffic inside the virtual network and outbound to the
// internet (Microsoft Graph, Databricks). Add outbound rules here, or a route table to a firewall, to
// restrict where the app may connect.
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 25, 0)
          networkSecurityGroup: {
            id: nsg.id
          }
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 26, 2)
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for zone in items(dnsZoneNames): {
  name: zone.value
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (zone, i) in items(dnsZoneNames): {
  parent: zones[i]
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

output id string = vnet.id
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointSubnetName)
// Zone ids by service: blob, queue, table, vault.
output dnsZoneIds object = {
  blob: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.blob)
  queue: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.queue)
  table: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.table)
  vault: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.vault)
}
