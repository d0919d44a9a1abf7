// entra-databricks-sync: everything the app needs, in one resource group.
//
//   az deployment group create -g <resource-group> -f infra/main.bicep -p environmentName=<name>
//   azd up   (azure.yaml at the repository root; parameters from main.parameters.json)
//
// - Function app on the Flex Consumption plan (Linux, runtime `custom`), HTTPS only, TLS 1.2+,
//   no FTP or basic-auth publishing, with a system-assigned managed identity (or a user-assigned one);
// - its storage account: identity-based AzureWebJobsStorage (shared-key access off) and the
//   deployment container;
// - Log Analytics + Application Insights (Microsoft Entra-authenticated ingestion);
// - a Key Vault in RBAC mode, or an existing vault, with "Key Vault Secrets User" for the app;
// - the Microsoft Graph application roles GroupMember.Read.All and User.Read.All for the app's
//   identity (Microsoft Graph Bicep extension; switch off with grantGraphAppRoles=false);
// - alerts: a failed SyncTimer invocation, and no successful run for noSuccessfulRunHours;
// - a dashboard: an Azure Monitor workbook linked to the function app (infra/workbook/sync-workbook.json);
// - with networkIsolation=true: a virtual network that the app's outbound traffic takes (Flex Consumption
//   VNet integration), private endpoints and private DNS zones for the storage account and the Key Vault,
//   and public network access off on both (modules/network.bicep, modules/private-endpoints.bicep).
//
// docs/deploy.md walks through a deployment; docs/monitoring.md through the telemetry and alerts.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment (the azd environment name): makes resource names unique and tags every resource.')
param environmentName string

@description('Azure region of the resources (one where Flex Consumption is available: az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Function app name; empty for func-dbxsync-<token>. It is also the host name <name>.azurewebsites.net.')
param functionAppName string = ''

@description('Which managed identity the app uses for Graph, Key Vault, storage and telemetry.')
@allowed([
  'SystemAssigned'
  'UserAssigned'
])
param identityType string = 'SystemAssigned'

@description('With identityType UserAssigned: resource id of an existing user-assigned identity; empty to create one (id-dbxsync-<token>) in this resource group.')
param userAssignedIdentityResourceId string = ''

@description('Name of an existing Key Vault (RBAC mode) that holds the Databricks tokens; empty to create one (kv-dbxsync-<token>).')
param existingKeyVaultName string = ''

@description('Resource group of existingKeyVaultName (same subscription); empty for this resource group.')
param existingKeyVaultResourceGroup string = ''

@description('New vault only: days a deleted vault or secret stays recoverable (purge protection is always on, so a deleted vault keeps its name for this long).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Object id of the user, group or service principal that stores the Databricks tokens; gets "Key Vault Secrets Officer" on the vault. Empty for none (azd passes the signed-in user).')
param secretsOfficerPrincipalId string = ''

@description('Type of secretsOfficerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param secretsOfficerPrincipalType string = 'User'

@description('Grant the Microsoft Graph application roles GroupMember.Read.All and User.Read.All to the app\'s identity. Needs Privileged Role Administrator (or AppRoleAssignment.ReadWrite.All + Application.Read.All); with false, grant them as docs/deploy.md shows.')
param grantGraphAppRoles bool = true

@description('Also grant Application.Read.All, which reading the appId of service principal members needs: set it for workspaces with includeServicePrincipals.')
param grantApplicationRead bool = false

@description('Change notifications from Microsoft Graph (SyncNotify, SyncSubscriptions): grants Group.Read.All, which subscriptions on groups need, and sets NOTIFICATION_URL and NOTIFICATION_CLIENT_STATE to the Key Vault secrets notification-url and notification-client-state, which docs/deploy.md ("Change notifications") has you create once.')
param enableNotifications bool = false

@description('NCRONTAB schedule of SyncTimer, six fields, UTC (app setting SYNC_SCHEDULE). Default: hourly.')
param syncSchedule string = '0 0 * * * *'

@description('NCRONTAB schedule of SyncSubscriptions, which keeps the Microsoft Graph subscriptions of change notifications made and renewed (app setting SUBSCRIPTION_SCHEDULE). Default: every 15 minutes; without NOTIFICATION_URL it does nothing.')
param subscriptionSchedule string = '0 */15 * * * *'

@description('Path of the configuration file in the package (app setting SYNC_CONFIG_PATH).')
param syncConfigPath string = 'sync-config.json'

@description('More app settings, name to value (for example {"RUST_LOG": "info,entra_databricks_sync=debug"}). Cannot override the host settings.')
param additionalAppSettings object = {}

@description('Maximum number of instances (Flex Consumption accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Days Log Analytics keeps the telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('E-mail address that receives the alerts; empty for no action group (alerts show in the portal only).')
param alertEmailAddress string = ''

@description('Hours without a successful run before the "no successful run" alert fires. Keep it above the schedule\'s interval.')
@minValue(1)
@maxValue(48)
param noSuccessfulRunHours int = 6

@description('Create the alert rules (and the action group when alertEmailAddress is set).')
param deployAlerts bool = true

@description('Create the dashboard: an Azure Monitor workbook linked to the function app (docs/monitoring.md).')
param deployWorkbook bool = true

@description('Private networking: a virtual network with the app integrated, private endpoints for the storage account and the Key Vault, public network access off on both (docs/deploy.md, "Private networking").')
param networkIsolation bool = false

@description('With networkIsolation: address space of the virtual network, /24 or larger (the app subnet is its first /25, the private endpoint subnet the /26 after it). Pick one that does not overlap networks you peer it with.')
param vnetAddressPrefix string = '10.0.0.0/24'

@description('Tags added to every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------------
// Names

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, {
  'azd-env-name': environmentName
  application: 'entra-databricks-sync'
})
var appName = empty(functionAppName) ? 'func-dbxsync-${token}' : functionAppName
var storageName = 'stdbxsync${take(token, 15)}'
var deploymentContainerName = 'app-package-${take(toLower(appName), 32)}-${take(token, 7)}'

// ---------------------------------------------------------------------------------------------------
// Identity

var userAssigned = identityType == 'UserAssigned'
var createIdentity = userAssigned && empty(userAssignedIdentityResourceId)
var useExistingIdentity = userAssigned && !empty(userAssignedIdentityResourceId)
// A well-formed id even when none was given, so that the `existing` reference below stays valid.
var placeholderIdentityId = '${resourceGroup().id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/none'
var identityIdParts = split(useExistingIdentity ? userAssignedIdentityResourceId : placeholderIdentityId, '/')

resource newIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (createIdentity) {
  name: 'id-dbxsync-${token}'
  location: location
  tags: allTags
}

resource existingIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = if (useExistingIdentity) {
  name: identityIdParts[8]
  scope: resourceGroup(identityIdParts[2], identityIdParts[4])
}

var identityId = createIdentity ? newIdentity.id : (useExistingIdentity ? userAssignedIdentityResourceId : '')
var existingIdentityClientId = useExistingIdentity ? existingIdentity.properties.clientId : ''
var existingIdentityPrincipalId = useExistingIdentity ? existingIdentity.properties.principalId : ''
var identityClientId = createIdentity ? newIdentity.properties.clientId : existingIdentityClientId
var identityPrincipalId = createIdentity ? newIdentity.properties.principalId : existingIdentityPrincipalId

// ---------------------------------------------------------------------------------------------------
// Monitoring, storage, the function app

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: allTags
    logAnalyticsName: 'log-dbxsync-${token}'
    applicationInsightsName: 'appi-dbxsync-${token}'
    retentionInDays: logRetentionInDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: allTags
    name: storageName
    deploymentContainerName: deploymentContainerName
    networkIsolation: networkIsolation
  }
}

// AZURE_CLIENT_ID tells the handler which user-assigned identity to use; unset = system-assigned.
var clientIdSetting = userAssigned ? { AZURE_CLIENT_ID: identityClientId } : {}
// Change notifications: the URL Graph posts to carries SyncNotify's function key, so it is a Key Vault
// reference (resolved by the platform with the app's identity); the clientState is read by the handler.
var notificationVaultUri = 'https://${notificationVaultName}${environment().suffixes.keyvaultDns}'
var notificationSettings = enableNotifications ? {
  NOTIFICATION_URL: '@Microsoft.KeyVault(SecretUri=${notificationVaultUri}/secrets/notification-url)'
  NOTIFICATION_CLIENT_STATE: '${notificationVaultUri}/secrets/notification-client-state'
} : {}
var syncSettings = union(
  additionalAppSettings,
  {
    SYNC_SCHEDULE: syncSchedule
    SUBSCRIPTION_SCHEDULE: subscriptionSchedule
    SYNC_CONFIG_PATH: syncConfigPath
  },
  clientIdSetting,
  notificationSettings
)

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: allTags
    appTags: union(allTags, {
      'azd-service-name': 'sync'
    })
    name: appName
    planName: 'plan-dbxsync-${token}'
    identityType: identityType
    userAssignedIdentityId: identityId
    userAssignedIdentityClientId: identityClientId
    userAssignedIdentityPrincipalId: identityPrincipalId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    syncAppSettings: syncSettings
    virtualNetworkSubnetId: networkIsolation ? network!.outputs.appSubnetId : ''
  }
  // With networkIsolation the app's storage is reachable only through its private endpoints.
  dependsOn: [
    privateEndpoints
  ]
}

// The Azure roles the Functions host needs (storage, telemetry), for whichever identity the app has. In a
// module so that the assignments are named guid(scope, principalId, role): the principal id is a module
// parameter there, known when the module starts (BCP120 rules it out inside function-app.bicep).
module appRoleAssignments 'modules/app-role-assignments.bicep' = {
  name: 'app-role-assignments'
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    queueNames: [
      storage.outputs.workQueueName
      storage.outputs.poisonQueueName
    ]
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// ---------------------------------------------------------------------------------------------------
// Key Vault: the workspaces' Databricks tokens

var createKeyVault = empty(existingKeyVaultName)
var keyVaultName = createKeyVault ? 'kv-dbxsync-${take(token, 12)}' : existingKeyVaultName
var notificationVaultName = keyVaultName
var useThisResourceGroup = createKeyVault || empty(existingKeyVaultResourceGroup)
var keyVaultResourceGroup = useThisResourceGroup ? resourceGroup().name : existingKeyVaultResourceGroup

module keyVault 'modules/key-vault.bicep' = if (createKeyVault) {
  name: 'key-vault'
  params: {
    location: location
    tags: allTags
    name: keyVaultName
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    networkIsolation: networkIsolation
  }
}

module keyVaultAccess 'modules/key-vault-access.bicep' = {
  name: 'key-vault-access'
  scope: resourceGroup(keyVaultResourceGroup)
  params: {
    vaultName: keyVaultName
    appPrincipalId: functionApp.outputs.principalId
    secretsOfficerPrincipalId: secretsOfficerPrincipalId
    secretsOfficerPrincipalType: secretsOfficerPrincipalType
  }
  dependsOn: [
    keyVault
  ]
}

// ---------------------------------------------------------------------------------------------------
// Private networking (networkIsolation): the virtual network, and private endpoints for the storage
// account and the vault. An existing vault gets a private endpoint too, but its own network settings
// are left as they are (docs/deploy.md, "Private networking").

module network 'modules/network.bicep' = if (networkIsolation) {
  name: 'network'
  params: {
    location: location
    tags: allTags
    name: 'vnet-dbxsync-${token}'
    addressPrefix: vnetAddressPrefix
  }
}

module privateEndpoints 'modules/private-endpoints.bicep' = if (networkIsolation) {
  name: 'private-endpoints'
  params: {
    location: location
    tags: allTags
    subnetId: networkIsolation ? network!.outputs.privateEndpointSubnetId : ''
    dnsZoneIds: networkIsolation ? network!.outputs.dnsZoneIds : {}
    storageAccountId: storage.outputs.id
    keyVaultId: resourceId(subscription().subscriptionId, keyVaultResourceGroup, 'Microsoft.KeyVault/vaults', keyVaultName)
  }
  dependsOn: [
    keyVault
  ]
}

// ---------------------------------------------------------------------------------------------------
// Microsoft Graph application roles (tenant-level; needs a privileged deployer)
//
// A new identity's service principal may not have replicated in Entra ID yet when the grants are made;
// Graph then answers "Not a valid reference update" (BadRequest) and the deployment fails. A rerun of
// the same command succeeds and is safe (docs/deploy.md, "Role assignments take a few minutes"). The
// grants start only after the Azure role assignments, which gives Entra ID more time: that makes the
// failure less likely, it does not rule it out. See graph-app-roles.bicep for why there is no wait.

module graphAppRoles 'modules/graph-app-roles.bicep' = if (grantGraphAppRoles) {
  name: 'graph-app-roles'
  params: {
    principalId: functionApp.outputs.principalId
    appRoles: concat(['GroupMember.Read.All', 'User.Read.All'], grantApplicationRead ? ['Application.Read.All'] : [], enableNotifications ? ['Group.Read.All'] : [])
  }
  dependsOn: [
    appRoleAssignments
    keyVaultAccess
  ]
}

// ---------------------------------------------------------------------------------------------------
// Alerts

module alerts 'modules/alerts.bicep' = if (deployAlerts) {
  name: 'alerts'
  params: {
    location: location
    tags: allTags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    namePrefix: 'dbxsync-${token}'
    alertEmailAddress: alertEmailAddress
    noSuccessfulRunHours: noSuccessfulRunHours
  }
}

// The dashboard: a workbook (infra/workbook/sync-workbook.json) under the function app's Workbooks.
module dashboard 'modules/workbook.bicep' = if (deployWorkbook) {
  name: 'workbook'
  params: {
    location: location
    tags: allTags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    functionAppId: functionApp.outputs.id
    displayName: 'entra-databricks-sync (${environmentName})'
  }
}

// ---------------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment: azd env get-values)

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SYNC_HTTP_URL string = 'https://${functionApp.outputs.defaultHostName}/api/SyncHttp'
output APP_IDENTITY_PRINCIPAL_ID string = functionApp.outputs.principalId
output APP_IDENTITY_CLIENT_ID string = identityClientId
output AZURE_KEY_VAULT_NAME string = keyVaultName
output AZURE_KEY_VAULT_RESOURCE_GROUP string = keyVaultResourceGroup
output AZURE_KEY_VAULT_URI string = keyVaultAccess.outputs.vaultUri
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output GRAPH_APP_ROLES_GRANTED bool = grantGraphAppRoles
output SYNC_WORKBOOK_URL string = deployWorkbook ? dashboard.outputs.portalUrl : ''
