// Microsoft Graph application roles for the function app's managed identity, through the Microsoft
// Graph Bicep extension (alias microsoftGraphV1 in ../bicepconfig.json). A managed identity has no
// consent screen: an app role assignment on the Microsoft Graph service principal is how it gets
// application permissions.
//
// Whoever deploys this module needs Privileged Role Administrator in Microsoft Entra ID (or the Graph
// permissions AppRoleAssignment.ReadWrite.All and Application.Read.All). Without them, deploy with
// grantGraphAppRoles=false and grant the roles as docs/deploy.md shows.
//
// Reruns: the extension keys an app role assignment by (appRoleId, principalId) and never updates one
// (CompositeKey, Upsertable/Updatable false in its type configuration,
// https://github.com/microsoftgraph/msgraph-bicep-types/blob/main/src/swagger-generation/configs/v1.0/1.0.0.yml),
// so a rerun for the same principal finds the existing assignments and leaves them as they are.
//
// Replication: Entra ID is eventually consistent. When principalId belongs to an identity created moments
// ago in the same deployment (a new system-assigned identity, or id-dbxsync-<token>), Graph can answer
// "Not a valid reference update." (BadRequest) until the new service principal has replicated
// (https://github.com/microsoftgraph/msgraph-bicep-types/issues/193, open; the extension's own samples
// say to wait a few minutes and run the deployment again). Nothing here waits for it, because nothing in
// Bicep can do so reliably:
// - the extension does not wait for it (issue 193 is that very failure), and an `existing` read of the
//   service principal would fail the same way (a read that succeeds on one replica says nothing of the
//   replica the write reaches; a system-assigned identity has no client id to look it up by, either);
// - a Microsoft.Resources/deploymentScripts wait needs a second storage account, with shared-key access
//   (the script's container mounts a file share with the account key, even with a managed identity:
//   https://github.com/Azure/bicep/issues/14325, https://github.com/MicrosoftDocs/azure-docs/issues/119179),
//   where this template keeps shared keys off and the built-in policy "Storage accounts should prevent
//   shared key access" denies them; checking the principal from the script needs an identity with a
//   Graph role of its own (Application.Read.All), a blind sleep proves nothing, and either adds a
//   container instance and its cost to every deployment.
// So main.bicep starts the grants after the Azure role assignments (more time, no guarantee), and
// docs/deploy.md gives the error text and the rerun (azd provision, or the same az deployment group
// create), which is safe for the reason above.

extension microsoftGraphV1

@description('Object (principal) id of the managed identity that receives the roles.')
param principalId string

@description('Values of the Microsoft Graph application roles to grant.')
param appRoles array = [
  'GroupMember.Read.All'
  'User.Read.All'
]

// The Microsoft Graph application, the same id in every tenant.
var graphAppId = '00000003-0000-0000-c000-000000000000'

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource assignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for role in appRoles: {
  principalId: principalId
  resourceId: graph.id
  appRoleId: filter(graph.appRoles, appRole => appRole.value == role)[0].id
}]

output graphServicePrincipalId string = graph.id
output grantedAppRoles array = appRoles
