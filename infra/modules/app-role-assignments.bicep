// The Azure roles the Functions host needs for the app's managed identity: "Storage Blob Data Owner" on
// its storage account (identity-based AzureWebJobsStorage, the deployment container, and the handler's
// shared state: a lease per workspace, the last reports), "Storage Queue Data Contributor" on the work
// queue and its poison queue only (SyncQueue's trigger reads, updates and deletes messages and moves
// failed ones to the poison queue; the app sends work to it), and "Monitoring Metrics Publisher" on
// Application Insights (Microsoft Entra-authenticated telemetry).
//
// A module of its own so that each assignment is named guid(scope, principalId, roleDefinitionId): a
// module's parameters are known when its nested deployment starts, whereas in function-app.bicep the
// system-assigned principal id (app.identity.principalId) is only known at run time, and a role
// assignment's name must be computable at the start of the deployment (Bicep BCP120). A name derived from
// the principal, not from the app's resource id, means that a new principal (a redeployment after
// `azd down`, or a switch of identityType) gets new assignments instead of ARM refusing to change the
// principal of an existing one (RoleAssignmentUpdateNotPermitted, https://github.com/Azure/bicep/issues/8774),
// and that a rerun with the same principal finds the same names (idempotent).

@description('Object (principal) id of the function app\'s managed identity (system- or user-assigned).')
param principalId string

@description('Name of the app\'s storage account (in the resource group this module is deployed to).')
param storageAccountName string

@description('Names of the queues the app works with (the work queue and its poison queue).')
param queueNames array = [
  'entra-sync-work'
  'entra-sync-work-poison'
]

@description('Name of the Application Insights component (in the resource group this module is deployed to).')
param applicationInsightsName string

// Built-in role definition ids.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    // With the type given, ARM does not look the principal up in Entra ID, so a principal created moments
    // ago (not yet replicated) does not fail with PrincipalNotFound (https://aka.ms/docs-principaltype).
    principalType: 'ServicePrincipal'
    description: 'Functions host storage (AzureWebJobsStorage) and deployment package'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

// Scoped to each queue, not the account: the least the trigger and the sender need
// (https://learn.microsoft.com/azure/storage/queues/authorize-access-azure-active-directory, "Resource scope").
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, principalId, storageQueueDataContributor)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'SyncQueue: the work queue and its poison queue'
  }
}]

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Microsoft Entra-authenticated telemetry from the Functions host'
  }
}
