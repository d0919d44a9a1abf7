// Alerts on the sync, evaluated on Application Insights:
// - a SyncTimer invocation failed (the timer answers the host with a non-2xx status whenever any
//   workspace failed, so the invocation is recorded as Failed);
// - no successful run for a configurable number of hours (the timer stopped firing, every run fails,
//   or the app is down).
// Both notify an action group that e-mails alertEmailAddress (no action group when it is empty: the
// alerts then show in the portal only).

@description('Azure region of the alert rules.')
param location string

@description('Tags for every resource.')
param tags object

@description('Resource id of the Application Insights component the rules query.')
param applicationInsightsId string

@description('Prefix of the resource names.')
param namePrefix string

@description('E-mail address that receives the alerts; empty for none.')
param alertEmailAddress string

@description('Hours without a successful run before the "no successful run" alert fires.')
@minValue(1)
@maxValue(48)
param noSuccessfulRunHours int

var notify = !empty(alertEmailAddress)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'dbxsync'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = notify ? [ actionGroup.id ] : []

// Every failed SyncTimer invocation in the window (retries included).
var failedTimerQuery = '''
requests
| where operation_Name == "SyncTimer" and success == false
| project timestamp, invocation_id = tostring(customDimensions.InvocationId), resultCode, duration
'''

// Successful runs: a succeeded SyncTimer invocation, or a run that reported status "succeeded" for
// real (not a dry run) on the handler's stdout (traces of category Host.Function.Console, the JSON
// line is the message). Always one row: Successes = 0 when there was none.
var noSuccessQuery = '''
let since = ago(__HOURS__h);
let timer = requests
    | where timestamp > since
    | where operation_Name == "SyncTimer" and success == true
    | project timestamp;
let runs = traces
    | where timestamp > since
    | where tostring(customDimensions.Category) == "Host.Function.Console"
    | where message contains "runFinished"
    | extend e = parse_json(substring(message, indexof(message, "{")))
    | where tostring(e.event) == "runFinished" and tostring(e.status) == "succeeded"
    | where not(coalesce(tobool(e.dry_run), false))
    | project timestamp;
union timer, runs
| summarize Successes = count()
'''

resource failedTimer 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-synctimer-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'entra-databricks-sync: SyncTimer invocation failed'
    description: 'A SyncTimer invocation was recorded as Failed: at least one workspace failed to sync, or the run could not start. The invocation id is in the alert; docs/monitoring.md shows how to find its report.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: failedTimerQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// Every failed SyncSubscriptions invocation: a Graph subscription could not be made or renewed (it
// expires and change notifications stop; the timer's runs still converge), or none could be read.
var failedSubscriptionsQuery = '''
requests
| where operation_Name == "SyncSubscriptions" and success == false
| project timestamp, invocation_id = tostring(customDimensions.InvocationId), resultCode, duration
'''

resource failedSubscriptions 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-syncsubscriptions-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'entra-databricks-sync: a Graph subscription failed to renew'
    description: 'A SyncSubscriptions invocation was recorded as Failed: a Microsoft Graph change-notification subscription could not be created or renewed (its error names the group and what Graph said). Until it is fixed, changes of that group reach Databricks only at the next SyncTimer run. docs/monitoring.md says what to check.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: failedSubscriptionsQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource noSuccess 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-no-successful-run'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'entra-databricks-sync: no successful run for ${noSuccessfulRunHours} h'
    description: 'No SyncTimer invocation succeeded and no run reported "succeeded" in the last ${noSuccessfulRunHours} hours: the schedule stopped, every run fails, or the app is down.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'PT${noSuccessfulRunHours}H'
    criteria: {
      allOf: [
        {
          query: replace(noSuccessQuery, '__HOURS__', string(noSuccessfulRunHours))
          timeAggregation: 'Total'
          metricMeasureColumn: 'Successes'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

output actionGroupId string = notify ? actionGroup.id : ''
