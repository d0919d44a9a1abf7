// A Key Vault in RBAC mode for the workspaces' Databricks tokens (one secret per workspace, named in
// each workspace's `scimToken` URL). Access is granted with Azure roles, never access policies:
// see key-vault-access.bicep.

@description('Azure region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

@description('Vault name: 3-24 letters, digits and hyphens, starting with a letter, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Days a deleted vault or secret stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('Private networking: public network access off and the firewall denying by default; the app reaches the vault through a private endpoint (private-endpoints.bicep).')
param networkIsolation bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Always on: a deleted vault (or secret) can be recovered, and nobody can purge it before the
    // retention period ends. The vault's name stays taken for that period after a deletion.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // With networkIsolation, only the private endpoint reaches the vault's data plane: storing a token
    // needs a machine in (or connected to) the virtual network, or the firewall opened to one address
    // for the time it takes (docs/deploy.md, "Private networking"). The next provisioning closes it.
    publicNetworkAccess: networkIsolation ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: networkIsolation ? 'Deny' : 'Allow'
    }
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
