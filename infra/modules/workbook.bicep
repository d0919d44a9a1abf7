// The sync's dashboard: an Azure Monitor workbook (shared) whose content is infra/workbook/sync-workbook.json,
// as it is in the repository (a test in src/sync/events/tests.rs checks that every event field its queries
// read is one the handler writes). Only the Application Insights resource id is filled in: the queries run
// against it (crossComponentResources), whatever resource the workbook is opened from.
//
// sourceId links the workbook to the function app: it is listed under the function app's Monitoring,
// Workbooks (and under Azure Monitor, Workbooks, filtered on the resource group). Workbook galleries match
// the source resource id in lower case.

@description('Azure region of the workbook.')
param location string

@description('Tags for every resource.')
param tags object

@description('Resource id of the Application Insights component the queries read.')
param applicationInsightsId string

@description('Resource id of the function app the workbook is linked to (its Workbooks blade lists it).')
param functionAppId string

@description('Name shown in the Workbooks gallery.')
param displayName string

// A workbook's name is a GUID; a stable one, so that a redeployment updates the same workbook.
var workbookName = guid(resourceGroup().id, functionAppId, 'entra-databricks-sync-workbook')

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: workbookName
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    description: 'entra-databricks-sync: runs, workspaces, failed actions, held deprovisioning, run time against SYNC_MAX_RUN_SECONDS (docs/monitoring.md).'
    category: 'workbook'
    version: '1.0'
    sourceId: toLower(functionAppId)
    serializedData: replace(loadTextContent('../workbook/sync-workbook.json'), '__APPLICATION_INSIGHTS_ID__', applicationInsightsId)
  }
}

output id string = workbook.id
output name string = workbook.name
// Opens the workbook itself (the portal resolves the tenant from the signed-in user).
output portalUrl string = '${environment().portal}/#@${tenant().tenantId}/resource${workbook.id}/workbook'
