// Microsoft Graph application roles for the function app's managed identity, through the Microsoft
// Graph Bicep extension (alias microsoftGraphV1 in ../bicepconfig.json). A managed identity has no
// consent screen: an app role assignment on the Microsoft Graph service principal is how it gets
// application permissions.
//
// Whoever deploys this module needs Privileged Role Administrator in Microsoft Entra ID (or the Graph
// permissions AppRoleAssignment.ReadWrite.All and Application.Read.All). Without them, deploy with
// grantGraphAppRoles=false and grant the roles as docs/deploy.md shows.

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
