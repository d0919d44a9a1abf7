//! The per-workspace sync options: keys allowed both in a workspace entry and in the top-level
//! `defaults` object (the entry wins, then `defaults`, then the built-in default).

use serde::Serialize;
use serde_json::{Map, Value};

use super::keys::kind;

pub(super) const NESTED: &str = "nested";
pub(super) const INCLUDE_DISABLED: &str = "includeDisabled";
pub(super) const INCLUDE_SERVICE_PRINCIPALS: &str = "includeServicePrincipals";
pub(super) const USER_NAME: &str = "userName";
pub(super) const SCIM_RATE: &str = "scimRequestsPerSecond";
pub(super) const MANAGED_GROUP: &str = "managedGroup";
pub(super) const DEPROVISION: &str = "deprovision";
pub(super) const MAX_DEPROVISION: &str = "maxDeprovision";
pub(super) const MIRROR_GROUPS: &str = "mirrorGroups";
pub(super) const ENTITLEMENTS: &str = "entitlements";
pub(super) const IDENTITIES: &str = "identities";
pub(super) const OPTION_KEYS: &[&str] = &[
    MIRROR_GROUPS,
    ENTITLEMENTS,
    NESTED,
    INCLUDE_DISABLED,
    INCLUDE_SERVICE_PRINCIPALS,
    USER_NAME,
    SCIM_RATE,
    MANAGED_GROUP,
    DEPROVISION,
    MAX_DEPROVISION,
    IDENTITIES,
];

/// The marker group's default name.
pub const DEFAULT_MANAGED_GROUP: &str = "entra-sync-managed";

/// The entitlement values Databricks knows.
pub const ENTITLEMENT_VALUES: &[&str] = &[
    "workspace-access",
    "databricks-sql-access",
    "allow-cluster-create",
    "allow-instance-pool-create",
    "workspace-consume",
];

/// Highest accepted `scimRequestsPerSecond`; real workspaces throttle far below it.
const MAX_SCIM_RATE: f64 = 1000.0;

/// The default `scimRequestsPerSecond`: Azure Databricks' documented workspace-level SCIM limit, 255
/// requests a minute (4.25 a second). The "Resource limits" page documents it for GET only and nothing
/// for workspace SCIM writes, so the one documented number paces every request (docs/api-contract.md,
/// "Pace"). It is the ceiling of the adaptive pace: 429s slow a workspace below it, never above.
pub const DEFAULT_SCIM_RATE: f64 = 255.0 / 60.0;

/// Which Entra attribute becomes the Databricks `userName`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UserNameSource {
    /// The UPN, except for guests (`#EXT#` in the UPN), who sign in with their `mail`.
    #[default]
    Auto,
    Upn,
    Mail,
}

/// What happens to a managed user who is no longer in any configured group (or is disabled in Entra).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Deprovision {
    /// Nothing (the seed scripts' behaviour).
    #[default]
    None,
    /// `active: false`: the user can no longer sign in; nothing of theirs is deleted.
    Deactivate,
    /// DELETE: the user is removed from the workspace.
    Remove,
}

/// Where the workspace's users, service principals and groups are provisioned (`identities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Identities {
    /// In the workspace, through its SCIM API (`"workspace"`, today's behaviour).
    #[default]
    Workspace,
    /// At the Databricks account (the top-level `account`), then assigned to the workspace
    /// (`"account"`; needs the workspace id). Account mode is being built (issue 17).
    Account,
}

/// How many deprovisionings one run may make in a workspace before it holds them all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDeprovision {
    /// `maxDeprovision: 10`
    Count(u64),
    /// `maxDeprovision: "10%"`, of the users the sync manages in that workspace.
    Percent(f64),
    /// Not configured: 10% of the managed users, at least 5.
    Default,
}

/// Written back as in the file: `10` or `"10%"` (the default is not written).
impl Serialize for MaxDeprovision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxDeprovision::Count(n) => serializer.serialize_u64(*n),
            MaxDeprovision::Percent(p) => serializer.serialize_str(&format!("{p}%")),
            MaxDeprovision::Default => serializer.serialize_none(),
        }
    }
}

impl MaxDeprovision {
    fn is_default(&self) -> bool {
        *self == MaxDeprovision::Default
    }

    /// The limit for a workspace where the sync manages `managed` users.
    pub fn limit(self, managed: u64) -> u64 {
        let percent = |p: f64| (managed as f64 * p / 100.0).floor() as u64;
        match self {
            MaxDeprovision::Count(n) => n,
            MaxDeprovision::Percent(p) => percent(p),
            MaxDeprovision::Default => percent(10.0).max(5),
        }
    }
}

/// The options of one workspace, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOptions {
    /// Members of nested groups count (`transitiveMembers`); false reads direct members only.
    pub nested: bool,
    /// Disabled Entra accounts become (active) Databricks users too.
    pub include_disabled: bool,
    /// Entra service principals in the groups become Databricks service principals (by `appId`).
    pub include_service_principals: bool,
    pub user_name: UserNameSource,
    /// Client-side ceiling on SCIM requests to this workspace (default: the documented limit).
    pub scim_requests_per_second: f64,
    /// The workspace group marking the principals this sync owns: only its members are ever deprovisioned.
    pub managed_group: String,
    pub deprovision: Deprovision,
    #[serde(skip_serializing_if = "MaxDeprovision::is_default")]
    pub max_deprovision: MaxDeprovision,
    /// Each configured Entra group has a workspace group with exactly its synced members.
    pub mirror_groups: bool,
    /// Entitlements kept on the mirrored groups.
    pub entitlements: Vec<String>,
    /// Where identities are provisioned: in the workspace (the default) or at the account.
    pub identities: Identities,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            nested: true,
            include_disabled: false,
            include_service_principals: false,
            user_name: UserNameSource::Auto,
            scim_requests_per_second: DEFAULT_SCIM_RATE,
            managed_group: DEFAULT_MANAGED_GROUP.to_owned(),
            deprovision: Deprovision::None,
            max_deprovision: MaxDeprovision::Default,
            mirror_groups: false,
            entitlements: Vec::new(),
            identities: Identities::Workspace,
        }
    }
}

impl Eq for SyncOptions {}

/// Options as written in one object: only the keys present.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct PartialOptions {
    nested: Option<bool>,
    include_disabled: Option<bool>,
    include_service_principals: Option<bool>,
    user_name: Option<UserNameSource>,
    scim_requests_per_second: Option<f64>,
    managed_group: Option<String>,
    deprovision: Option<Deprovision>,
    max_deprovision: Option<MaxDeprovision>,
    mirror_groups: Option<bool>,
    entitlements: Option<Vec<String>>,
    identities: Option<Identities>,
}

impl PartialOptions {
    /// Reads the option keys of `object`; problems are `(key, message)`, in the order read here.
    pub(super) fn read(object: &Map<String, Value>) -> (PartialOptions, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let nested = option(object, NESTED, flag, &mut problems);
        let mirror_groups = option(object, MIRROR_GROUPS, flag, &mut problems);
        let include_disabled = option(object, INCLUDE_DISABLED, flag, &mut problems);
        let include_service_principals =
            option(object, INCLUDE_SERVICE_PRINCIPALS, flag, &mut problems);
        let user_name = option(object, USER_NAME, user_name, &mut problems);
        let scim_requests_per_second = option(object, SCIM_RATE, scim_rate, &mut problems);
        let managed_group = option(object, MANAGED_GROUP, managed_group, &mut problems);
        let deprovision = option(object, DEPROVISION, deprovision, &mut problems);
        let max_deprovision = option(object, MAX_DEPROVISION, max_deprovision, &mut problems);
        let entitlements = option(object, ENTITLEMENTS, entitlements, &mut problems);
        let identities = option(object, IDENTITIES, identities, &mut problems);
        let options = PartialOptions {
            nested,
            include_disabled,
            include_service_principals,
            user_name,
            scim_requests_per_second,
            managed_group,
            deprovision,
            max_deprovision,
            mirror_groups,
            entitlements,
            identities,
        };
        (options, problems)
    }

    /// These options over `defaults`, over the built-in defaults.
    pub(super) fn resolve(self, defaults: PartialOptions) -> SyncOptions {
        let builtin = SyncOptions::default();
        // Every field: the entry's value, else the defaults' value, else the built-in one.
        macro_rules! layered {
            ($own:ident, $defaults:ident, $builtin:ident; $($field:ident),* $(,)?) => {
                SyncOptions { $($field: $own.$field.or($defaults.$field).unwrap_or($builtin.$field)),* }
            };
        }
        layered!(self, defaults, builtin;
            nested, include_disabled, include_service_principals, user_name, scim_requests_per_second, managed_group,
            deprovision, max_deprovision, mirror_groups, entitlements, identities,
        )
    }

    /// The `identities` written in this object, if it is there and valid.
    pub(super) fn identities(&self) -> Option<Identities> {
        self.identities
    }
}

/// A JSON value for a message: strings quoted, numbers as written, other values by kind.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

fn entitlements(value: &Value) -> Result<Vec<String>, String> {
    let known = ENTITLEMENT_VALUES
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let Value::Array(items) = value else {
        return Err(format!(
            "must be an array of entitlements ({known}), got {}",
            describe(value)
        ));
    };
    let mut values = Vec::new();
    for item in items {
        match item.as_str() {
            Some(v) if ENTITLEMENT_VALUES.contains(&v) => {
                if !values.iter().any(|x| x == v) {
                    values.push(v.to_owned());
                }
            }
            _ => {
                return Err(format!(
                    "{} is not an entitlement; the known ones are {known}",
                    describe(item)
                ));
            }
        }
    }
    Ok(values)
}

/// The value of `key` in `object` read by `parse`, if present; a problem goes to `problems`.
fn option<T>(
    object: &Map<String, Value>,
    key: &str,
    parse: fn(&Value) -> Result<T, String>,
    problems: &mut Vec<(String, String)>,
) -> Option<T> {
    let value = object.get(key)?;
    parse(value)
        .map_err(|message| problems.push((key.to_owned(), message)))
        .ok()
}

fn flag(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("must be true or false, got {}", kind(other))),
    }
}

fn user_name(value: &Value) -> Result<UserNameSource, String> {
    let got = match value {
        Value::String(s) if s == "auto" => return Ok(UserNameSource::Auto),
        Value::String(s) if s == "upn" => return Ok(UserNameSource::Upn),
        Value::String(s) if s == "mail" => return Ok(UserNameSource::Mail),
        Value::String(other) => format!("{other:?}"),
        other => kind(other).to_owned(),
    };
    Err(format!("must be \"auto\", \"upn\" or \"mail\", got {got}"))
}

/// A rate of requests per second: a number above 0 and at most [`MAX_SCIM_RATE`] (also the account's
/// `requestsPerSecond`).
pub(super) fn scim_rate(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(rate) if rate > 0.0 && rate <= MAX_SCIM_RATE => Ok(rate),
            _ => Err(format!(
                "must be a number above 0 and at most {MAX_SCIM_RATE}, got {n}"
            )),
        },
        other => Err(format!(
            "must be a number of requests per second, got {}",
            kind(other)
        )),
    }
}

fn managed_group(value: &Value) -> Result<String, String> {
    match value {
        Value::String(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        other => Err(format!(
            "must be the name of a workspace group, got {}",
            describe(other)
        )),
    }
}

fn deprovision(value: &Value) -> Result<Deprovision, String> {
    match value.as_str() {
        Some("none") => Ok(Deprovision::None),
        Some("deactivate") => Ok(Deprovision::Deactivate),
        Some("remove") => Ok(Deprovision::Remove),
        _ => Err(format!(
            "must be \"none\", \"deactivate\" or \"remove\", got {}",
            describe(value)
        )),
    }
}

fn identities(value: &Value) -> Result<Identities, String> {
    match value.as_str() {
        Some("workspace") => Ok(Identities::Workspace),
        Some("account") => Ok(Identities::Account),
        _ => Err(format!(
            "must be \"workspace\" (the default: identities are provisioned in the workspace) or \"account\" \
             (at the Databricks account, then assigned to the workspace), got {}",
            describe(value)
        )),
    }
}

fn max_deprovision(value: &Value) -> Result<MaxDeprovision, String> {
    max_deprovision_value(value).ok_or_else(|| {
        format!(
            "must be a count (like 20) or a percentage of the managed users (like \"10%\"), got {}",
            describe(value)
        )
    })
}

fn max_deprovision_value(value: &Value) -> Option<MaxDeprovision> {
    match value {
        Value::Number(n) => n.as_u64().map(MaxDeprovision::Count),
        Value::String(s) => {
            let percent: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
            (percent.is_finite() && (0.0..=100.0).contains(&percent))
                .then_some(MaxDeprovision::Percent(percent))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of a JSON object, and their problems.
    pub(super) fn read(json: &str) -> (PartialOptions, Vec<(String, String)>) {
        PartialOptions::read(
            serde_json::from_str::<Value>(json)
                .unwrap()
                .as_object()
                .unwrap(),
        )
    }

    #[test]
    fn entry_wins_over_defaults_which_win_over_builtin() {
        let (defaults, _) = read(r#"{"nested": false, "scimRequestsPerSecond": 2}"#);
        let (entry, _) = read(r#"{"nested": true, "userName": "mail"}"#);
        let options = entry.resolve(defaults.clone());
        assert!(options.nested);
        assert_eq!(options.user_name, UserNameSource::Mail);
        assert_eq!(options.scim_requests_per_second, 2.0);
        assert!(!options.include_disabled);
        assert_eq!(
            PartialOptions::default().resolve(PartialOptions::default()),
            SyncOptions::default()
        );
    }

    #[test]
    fn identities_default_to_the_workspace_and_resolve_like_every_option() {
        assert_eq!(SyncOptions::default().identities, Identities::Workspace);
        let (defaults, _) = read(r#"{"identities": "account"}"#);
        let (own, _) = read(r#"{"identities": "workspace"}"#);
        assert_eq!(
            PartialOptions::default()
                .resolve(defaults.clone())
                .identities,
            Identities::Account
        );
        assert_eq!(own.resolve(defaults).identities, Identities::Workspace);
        let (_, problems) = read(r#"{"identities": "Account"}"#);
        assert_eq!(
            problems,
            [(
                "identities".to_owned(),
                "must be \"workspace\" (the default: identities are provisioned in the workspace) or \"account\" \
                 (at the Databricks account, then assigned to the workspace), got \"Account\""
                    .to_owned()
            )]
        );
        assert_eq!(
            serde_json::to_value(Identities::Account).unwrap(),
            serde_json::json!("account")
        );
    }

    #[test]
    fn bad_option_values_are_each_reported() {
        let (_, problems) = read(
            r#"{"nested": "no", "includeDisabled": 1, "userName": "email", "scimRequestsPerSecond": 0}"#,
        );
        assert_eq!(
            problems,
            [
                (
                    "nested".to_owned(),
                    "must be true or false, got a string".to_owned()
                ),
                (
                    "includeDisabled".to_owned(),
                    "must be true or false, got a number".to_owned()
                ),
                (
                    "userName".to_owned(),
                    "must be \"auto\", \"upn\" or \"mail\", got \"email\"".to_owned()
                ),
                (
                    "scimRequestsPerSecond".to_owned(),
                    "must be a number above 0 and at most 1000, got 0".to_owned()
                ),
            ]
        );
    }
}

#[cfg(test)]
mod deprovision_tests {
    use super::tests::read;
    use super::*;

    #[test]
    fn deprovisioning_options_are_read_and_default_to_none_with_ten_percent_at_least_five() {
        let options = PartialOptions::default().resolve(PartialOptions::default());
        assert_eq!(options.deprovision, Deprovision::None);
        assert_eq!(options.managed_group, "entra-sync-managed");
        assert_eq!(options.max_deprovision.limit(20), 5);
        assert_eq!(options.max_deprovision.limit(200), 20);
        let (own, problems) = read(
            r#"{"deprovision": "remove", "maxDeprovision": "25%", "managedGroup": "sync-owned"}"#,
        );
        assert!(problems.is_empty());
        let options = own.resolve(PartialOptions::default());
        assert_eq!(
            (options.deprovision, options.managed_group.as_str()),
            (Deprovision::Remove, "sync-owned")
        );
        assert_eq!(options.max_deprovision.limit(40), 10);
        let (own, _) = read(r#"{"maxDeprovision": 3}"#);
        assert_eq!(
            own.resolve(PartialOptions::default())
                .max_deprovision
                .limit(1000),
            3
        );
    }

    #[test]
    fn bad_deprovisioning_options_are_reported() {
        let (_, problems) =
            read(r#"{"deprovision": "delete", "maxDeprovision": "ten", "managedGroup": ""}"#);
        let messages: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "must be the name of a workspace group, got \"\"",
                "must be \"none\", \"deactivate\" or \"remove\", got \"delete\"",
                "must be a count (like 20) or a percentage of the managed users (like \"10%\"), got \"ten\"",
            ]
        );
    }
}
