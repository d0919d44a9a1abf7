// The function app on the Flex Consumption plan (Linux, runtime `custom`: the `handler` binary is a
// custom handler), with its managed identity. Its roles are granted in main.bicep, from the principal id
// this module outputs: the ones the Functions host needs ("Storage Blob Data Owner" on its storage
// account, "Monitoring Metrics Publisher" on Application Insights) in app-role-assignments.bicep, the
// app's own (Key Vault, Microsoft Graph) in key-vault-access.bicep and graph-app-roles.bicep.

@description('Azure region of the plan and the app.')
param location string

@description('Tags for the plan.')
param tags object

@description('Tags for the app (includes azd-service-name, which azd uses to find where to deploy).')
param appTags object

@description('Function app name (also its host name: <name>.azurewebsites.net).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('SystemAssigned, or UserAssigned with userAssignedIdentityId.')
@allowed([
  'SystemAssigned'
  'UserAssigned'
])
param identityType string

@description('Resource id of the user-assigned identity (identityType UserAssigned).')
param userAssignedIdentityId string = ''

@description('Client id of the user-assigned identity (identityType UserAssigned).')
param userAssignedIdentityClientId string = ''

@description('Object (principal) id of the user-assigned identity (identityType UserAssigned).')
param userAssignedIdentityPrincipalId string = ''

@description('Name of the storage account (same resource group) used for AzureWebJobsStorage and deployments.')
param storageAccountName string

@description('URL of the blob container that receives deployment packages.')
param deploymentContainerUrl string

@description('Name of the Application Insights component (same resource group).')
param applicationInsightsName string

@description('Maximum number of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('App settings of the sync itself (SYNC_SCHEDULE, SYNC_CONFIG_PATH, ...), merged over the host settings.')
param syncAppSettings object

@description('Resource id of a subnet delegated to Microsoft.App/environments for virtual network integration (network.bicep); empty for none.')
param virtualNetworkSubnetId string = ''

var userAssigned = identityType == 'UserAssigned'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Host settings. AzureWebJobsStorage is identity-based: the account name, and with a user-assigned
// identity also which identity to use. Telemetry is sent with Microsoft Entra authentication.
var telemetryAuthentication = userAssigned ? 'Authorization=AAD;ClientId=${userAssignedIdentityClientId}' : 'Authorization=AAD'
var userAssignedStorageSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: userAssignedIdentityClientId
}
var hostSettings = union(
  {
    AzureWebJobsStorage__accountName: storage.name
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: telemetryAuthentication
  },
  userAssigned ? userAssignedStorageSettings : {}
)

var userAssignedIdentities = {
  '${userAssignedIdentityId}': {}
}
var deploymentAuthentication = userAssigned ? { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: userAssignedIdentityId } : { type: 'SystemAssignedIdentity' }

var allSettings = union(syncAppSettings, hostSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: appTags
  kind: 'functionapp,linux'
  identity: {
    type: userAssigned ? 'UserAssigned' : 'SystemAssigned'
    userAssignedIdentities: userAssigned ? userAssignedIdentities : null
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings (NOTIFICATION_URL) are resolved with the app's own identity.
    keyVaultReferenceIdentity: userAssigned ? userAssignedIdentityId : 'SystemAssigned'
    // Inbound stays public with networkIsolation too: operators call SyncHttp with a function key, and
    // azd / az send deployments to the SCM endpoint. Outbound goes through the integration subnet when
    // one is set: on Flex Consumption the app's outbound traffic then takes the virtual network, with no
    // vnetRouteAllEnabled (a setting of the other plans, which the Flex reference templates leave out).
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [for setting in items(allSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: deploymentAuthentication
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// No FTP and no SCM (Kudu) user name/password: deployments authenticate with Microsoft Entra ID.
// (Flex Consumption has no FTPS at all; siteConfig.ftpsState is deprecated there.)
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// The role assignments use this in their names (guid(scope, principalId, role)), which BCP120 forbids
// here for app.identity.principalId: they are in app-role-assignments.bicep, called from main.bicep.
var principalId = userAssigned ? userAssignedIdentityPrincipalId : app.identity.principalId

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output principalId string = principalId
