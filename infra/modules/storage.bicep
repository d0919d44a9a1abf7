// The function app's storage account: host storage (AzureWebJobsStorage, identity-based) and the
// Flex Consumption deployment container. Account keys are never used: shared-key access is off,
// so every client (the Functions host, the deployment, a person with the portal) authenticates
// with Microsoft Entra ID.

@description('Azure region of the account.')
param location string

@description('Tags for every resource.')
param tags object

@description('Storage account name: 3-24 lower-case letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Blob container that receives the deployment package (Flex Consumption).')
param deploymentContainerName string

@description('The work queue of SyncQueue (its function.json names it); its poison queue is <name>-poison.')
param workQueueName string = 'entra-sync-work'

@description('Private networking: public network access off and the firewall denying by default; the app reaches the account through private endpoints (private-endpoints.bicep).')
param networkIsolation bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // With networkIsolation, only the private endpoints reach the account. A deployment does not need
    // it: azd and `az functionapp deploy` send the package to the app's deployment (SCM) endpoint, and
    // the Functions platform, not the deployer's machine, writes it to the container.
    publicNetworkAccess: networkIsolation ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: networkIsolation ? 'Deny' : 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The work queue of SyncQueue (one message per workspace to sync) and its poison queue, made here so
// that the app's role can be scoped to exactly these two (the Functions host would otherwise create the
// poison queue itself on the first poison message, which needs a role on the whole queue service).
resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource workQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: workQueueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${workQueueName}-poison'
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output workQueueName string = workQueue.name
output poisonQueueName string = poisonQueue.name
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
