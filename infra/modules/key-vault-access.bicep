// Azure role assignments scoped to one Key Vault (new or existing, in this resource group or another):
// "Key Vault Secrets User" for the function app's identity (read the workspaces' tokens), and optionally
// "Key Vault Secrets Officer" for the person or pipeline that stores those tokens.
//
// Both are named guid(vault, principal, role): known when this module starts (its parameters are), the
// same on a rerun with the same principal, and new for a new principal (a redeployment after `azd down`,
// a switch of identityType), so ARM never has to change an existing assignment's principal, which it
// refuses (RoleAssignmentUpdateNotPermitted, https://github.com/Azure/bicep/issues/8774).

@description('Name of the vault (in the resource group this module is deployed to).')
param vaultName string

@description('Object (principal) id of the function app\'s managed identity.')
param appPrincipalId string

@description('Object id of a principal that may write secrets (Key Vault Secrets Officer); empty for none.')
param secretsOfficerPrincipalId string = ''

@description('Type of secretsOfficerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsOfficerPrincipalType string = 'User'

// Built-in role definition ids.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'entra-databricks-sync reads the workspaces\' Databricks tokens'
  }
}

resource officer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: secretsOfficerPrincipalId
    principalType: secretsOfficerPrincipalType
    description: 'stores the Databricks tokens that entra-databricks-sync reads'
  }
}

output vaultUri string = vault.properties.vaultUri
