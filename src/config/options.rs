//! The per-workspace sync options: keys allowed both in a workspace entry and in the top-level
//! `defaults` object (the entry wins, then `defaults`, then the built-in default).

use serde::Serialize;
use serde_json::{Map, Value};

use super::keys::kind;

pub(super) const NESTED: &str = "nested";
pub(super) const INCLUDE_DISABLED: &str = "includeDisabled";
pub(super) const USER_NAME: &str = "userName";
pub(super) const SCIM_RATE: &str = "scimRequestsPerSecond";
pub(super) const OPTION_KEYS: &[&str] = &[NESTED, INCLUDE_DISABLED, USER_NAME, SCIM_RATE];

/// Highest accepted `scimRequestsPerSecond`; real workspaces throttle far below it.
const MAX_SCIM_RATE: f64 = 1000.0;

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

/// The options of one workspace, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOptions {
    /// Members of nested groups count (`transitiveMembers`); false reads direct members only.
    pub nested: bool,
    /// Disabled Entra accounts become (active) Databricks users too.
    pub include_disabled: bool,
    pub user_name: UserNameSource,
    /// Client-side limit on SCIM requests to this workspace, well under the documented limits.
    pub scim_requests_per_second: f64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            nested: true,
            include_disabled: false,
            user_name: UserNameSource::Auto,
            scim_requests_per_second: 5.0,
        }
    }
}

impl Eq for SyncOptions {}

/// Options as written in one object: only the keys present.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct PartialOptions {
    nested: Option<bool>,
    include_disabled: Option<bool>,
    user_name: Option<UserNameSource>,
    scim_requests_per_second: Option<f64>,
}

impl PartialOptions {
    /// Reads the option keys of `object`; problems are `(key, message)`.
    pub(super) fn read(object: &Map<String, Value>) -> (PartialOptions, Vec<(String, String)>) {
        let mut options = PartialOptions::default();
        let mut problems = Vec::new();
        let mut flag = |key: &str| match object.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                problems.push((
                    key.to_owned(),
                    format!("must be true or false, got {}", kind(other)),
                ));
                None
            }
        };
        options.nested = flag(NESTED);
        options.include_disabled = flag(INCLUDE_DISABLED);
        match object.get(USER_NAME) {
            None => {}
            Some(Value::String(s)) => match s.as_str() {
                "auto" => options.user_name = Some(UserNameSource::Auto),
                "upn" => options.user_name = Some(UserNameSource::Upn),
                "mail" => options.user_name = Some(UserNameSource::Mail),
                other => problems.push((
                    USER_NAME.to_owned(),
                    format!("must be \"auto\", \"upn\" or \"mail\", got {other:?}"),
                )),
            },
            Some(other) => {
                let message = format!("must be \"auto\", \"upn\" or \"mail\", got {}", kind(other));
                problems.push((USER_NAME.to_owned(), message));
            }
        }
        match object.get(SCIM_RATE) {
            None => {}
            Some(Value::Number(n)) => match n.as_f64() {
                Some(rate) if rate > 0.0 && rate <= MAX_SCIM_RATE => {
                    options.scim_requests_per_second = Some(rate);
                }
                _ => problems.push((
                    SCIM_RATE.to_owned(),
                    format!("must be a number above 0 and at most {MAX_SCIM_RATE}, got {n}"),
                )),
            },
            Some(other) => {
                let message = format!(
                    "must be a number of requests per second, got {}",
                    kind(other)
                );
                problems.push((SCIM_RATE.to_owned(), message));
            }
        }
        (options, problems)
    }

    /// These options over `defaults`, over the built-in defaults.
    pub(super) fn resolve(self, defaults: PartialOptions) -> SyncOptions {
        let builtin = SyncOptions::default();
        SyncOptions {
            nested: self.nested.or(defaults.nested).unwrap_or(builtin.nested),
            include_disabled: self
                .include_disabled
                .or(defaults.include_disabled)
                .unwrap_or(builtin.include_disabled),
            user_name: self
                .user_name
                .or(defaults.user_name)
                .unwrap_or(builtin.user_name),
            scim_requests_per_second: self
                .scim_requests_per_second
                .or(defaults.scim_requests_per_second)
                .unwrap_or(builtin.scim_requests_per_second),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> (PartialOptions, Vec<(String, String)>) {
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
        let options = entry.resolve(defaults);
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
