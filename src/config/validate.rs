//! The hand-written walk over the parsed JSON document that turns it into workspaces while
//! collecting every problem (serde derive would stop at the first). Entries are checked in
//! document order (`defaults` first); within an entry, unknown keys come first, then the known keys
//! in the order `name`, `databricksInstance`, `accessGroups`, `scimToken`, the options, then a
//! duplicate-name problem. Options (`options.rs`) resolve as entry, then `defaults`, then built-in.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::keys::{kind, unknown_keys};
use super::options::{self, OPTION_KEYS, PartialOptions};
use super::types::InvalidValue;
use super::{
    GroupRef, Problem, SecretUrl, SyncOptions, Workspace, WorkspaceAuth, WorkspaceName,
    WorkspaceUrl,
};

const WORKSPACES: &str = "workspaces";
const NAME: &str = "name";
const INSTANCE: &str = "databricksInstance";
const GROUPS: &str = "accessGroups";
const TOKEN: &str = "scimToken";
const AUTH: &str = "auth";
const GROUP_NAMES: &str = "groupNames";
const DEFAULTS: &str = "defaults";
const TOP_KEYS: &[&str] = &[WORKSPACES, DEFAULTS];
const WORKSPACE_KEYS: &[&str] = &[
    NAME,
    INSTANCE,
    GROUPS,
    TOKEN,
    AUTH,
    options::NESTED,
    options::INCLUDE_DISABLED,
    options::INCLUDE_SERVICE_PRINCIPALS,
    options::USER_NAME,
    options::SCIM_RATE,
    options::MANAGED_GROUP,
    options::DEPROVISION,
    options::MAX_DEPROVISION,
    options::MIRROR_GROUPS,
    options::ENTITLEMENTS,
    GROUP_NAMES,
];

const DEFAULTED_NOTE: &str = "; a workspace without \"name\" is named after the host of its \
     databricksInstance, so set \"name\" to tell them apart";

/// What each required workspace key holds, for the "missing required key" message.
fn required_hint(key: &str) -> &'static str {
    match key {
        INSTANCE => "the workspace URL, like https://adb-1234567890123456.7.azuredatabricks.net",
        GROUPS => "the Entra ID group, or array of groups, whose members get access",
        _ => {
            "the Key Vault secret URL of the SCIM token, like https://<vault>.vault.azure.net/secrets/<name>; \
             or set \"auth\": \"managedIdentity\" to call the workspace with the app's identity"
        }
    }
}

/// Validates the whole document; on failure, every problem found, in document order.
pub(super) fn validate(root: &Value) -> Result<Vec<Workspace>, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(top) = root.as_object() else {
        let message = format!(
            "must be a JSON object with the key \"workspaces\", got {}",
            kind(root)
        );
        return Err(vec![Problem::new("(top level)", message)]);
    };
    let (unknown, suggested) = unknown_keys(top, TOP_KEYS);
    problems.extend(
        unknown
            .into_iter()
            .map(|message| Problem::new("(top level)", message)),
    );
    let defaults = match top.get(DEFAULTS) {
        None => PartialOptions::default(),
        Some(Value::Object(object)) => {
            let (unknown, _) = unknown_keys(object, OPTION_KEYS);
            problems.extend(unknown.into_iter().map(|m| Problem::new(DEFAULTS, m)));
            let (defaults, bad) = PartialOptions::read(object);
            problems.extend(
                bad.into_iter()
                    .map(|(key, m)| Problem::new(format!("{DEFAULTS}.{key}"), m)),
            );
            defaults
        }
        Some(other) => {
            let message = format!("must be an object of sync options, got {}", kind(other));
            problems.push(Problem::new(DEFAULTS, message));
            PartialOptions::default()
        }
    };
    let mut workspaces = Vec::new();
    match top.get(WORKSPACES) {
        None if suggested.contains(&WORKSPACES) => {}
        None => problems.push(Problem::new(
            "(top level)",
            "missing required key \"workspaces\" (the array of workspaces to sync)",
        )),
        Some(Value::Array(entries)) if entries.is_empty() => {
            problems.push(Problem::new(
                WORKSPACES,
                "must list at least one workspace, got an empty array",
            ));
        }
        Some(Value::Array(entries)) => {
            let mut seen = HashMap::new();
            for (index, entry) in entries.iter().enumerate() {
                let found = workspace(index, entry, &mut seen, &mut problems);
                workspaces.extend(found.map(|(ws, own)| Workspace {
                    options: own.resolve(defaults.clone()),
                    ..ws
                }));
            }
        }
        Some(other) => {
            let message = format!("must be an array of workspace objects, got {}", kind(other));
            problems.push(Problem::new(WORKSPACES, message));
        }
    }
    if problems.is_empty() {
        Ok(workspaces)
    } else {
        Err(problems)
    }
}

/// `groupNames`: Entra group (as in `accessGroups`) → name of its mirrored workspace group. Keys are
/// stored as the matching `accessGroups` entry's text.
fn group_names(value: &Value, groups: &[GroupRef]) -> Result<BTreeMap<String, String>, Vec<Local>> {
    let at = |key: &str| Some(format!(".{GROUP_NAMES}.{key}"));
    let Value::Object(entries) = value else {
        let message = format!(
            "must be an object of Entra group → workspace group name, got {}",
            kind(value)
        );
        return Err(vec![(Some(format!(".{GROUP_NAMES}")), message)]);
    };
    let mut names = BTreeMap::new();
    let mut problems = Vec::new();
    // The first key naming each group: two keys for one group ("Eng", "eng") would leave one unused.
    let mut first_key: HashMap<String, &String> = HashMap::new();
    for (key, target) in entries {
        let group = GroupRef::parse(key)
            .ok()
            .and_then(|r| groups.iter().find(|g| g.identity_key() == r.identity_key()));
        let Some(group) = group else {
            problems.push((
                at(key),
                "is not one of this workspace's accessGroups".to_owned(),
            ));
            continue;
        };
        if let Some(first) = first_key.get(&group.identity_key()) {
            let message =
                format!("names the same group as {GROUP_NAMES}.{first}: keep one of them");
            problems.push((at(key), message));
            continue;
        }
        first_key.insert(group.identity_key(), key);
        match target.as_str().map(str::trim) {
            Some(name)
                if !name.is_empty()
                    && !name.eq_ignore_ascii_case("admins")
                    && !name.eq_ignore_ascii_case("users") =>
            {
                if names
                    .values()
                    .any(|n: &String| n.eq_ignore_ascii_case(name))
                {
                    problems.push((
                        at(key),
                        format!("{name:?} is already the name of another mirrored group"),
                    ));
                } else {
                    names.insert(group.to_string(), name.to_owned());
                }
            }
            _ => problems.push((
                at(key),
                format!(
                    "must be the name of a workspace group (not \"admins\" or \"users\"), got {}",
                    match target {
                        Value::String(s) => format!("{s:?}"),
                        other => kind(other).to_owned(),
                    }
                ),
            )),
        }
    }
    if problems.is_empty() {
        Ok(names)
    } else {
        Err(problems)
    }
}

/// Why a workspace's authentication could not be read.
enum AuthProblem {
    /// Neither `scimToken` nor `auth: "managedIdentity"`.
    Missing,
    Invalid(Vec<Local>),
}
use AuthProblem::{Invalid, Missing};

/// `scimToken` (a Key Vault secret URL holding a PAT, the default) or `auth: "managedIdentity"`
/// (the app's own Entra token); exactly one of them.
fn workspace_auth(
    auth: Option<&Value>,
    token: Option<&Value>,
) -> Result<WorkspaceAuth, AuthProblem> {
    let at = |key: &str| Some(format!(".{key}"));
    let managed = match auth {
        None => false,
        Some(Value::String(s)) if s == "pat" => false,
        Some(Value::String(s)) if s == "managedIdentity" => true,
        Some(other) => {
            let got = match other {
                Value::String(s) => format!("{s:?}"),
                other => kind(other).to_owned(),
            };
            let message = format!(
                "must be \"pat\" (a PAT from Key Vault, the default) or \"managedIdentity\", got {got}"
            );
            return Err(Invalid(vec![(at(AUTH), message)]));
        }
    };
    match (managed, token) {
        (true, None) => Ok(WorkspaceAuth::ManagedIdentity),
        (true, Some(_)) => Err(Invalid(vec![(
            at(TOKEN),
            "must not be given with \"auth\": \"managedIdentity\" (the workspace is called with the app's \
             managed identity, not a PAT): remove one of them"
                .to_owned(),
        )])),
        (false, None) => Err(Missing),
        (false, Some(value)) => string_field(value, TOKEN, SecretUrl::parse)
            .map(WorkspaceAuth::Pat)
            .map_err(|problem| Invalid(vec![problem])),
    }
}

/// A problem inside an entry: `None` for the entry itself, else the suffix after the entry (`.name`).
type Local = (Option<String>, String);

fn string_field<T>(
    value: &Value,
    key: &str,
    parse: fn(&str) -> Result<T, InvalidValue>,
) -> Result<T, Local> {
    let at = Some(format!(".{key}"));
    match value.as_str() {
        Some(text) => parse(text).map_err(|e| (at, e.to_string())),
        None => Err((at, format!("must be a string, got {}", kind(value)))),
    }
}

fn access_groups(value: &Value) -> Result<Vec<GroupRef>, Vec<Local>> {
    let at = |suffix: String| Some(format!(".{GROUPS}{suffix}"));
    let items = match value {
        Value::String(text) => {
            return GroupRef::parse(text)
                .map(|g| vec![g])
                .map_err(|e| vec![(at(String::new()), e.to_string())]);
        }
        Value::Array(items) if items.is_empty() => {
            return Err(vec![(
                at(String::new()),
                "must list at least one group, got an empty array".to_owned(),
            )]);
        }
        Value::Array(items) => items,
        other => {
            return Err(vec![(
                at(String::new()),
                format!(
                    "must be a string or an array of strings, got {}",
                    kind(other)
                ),
            )]);
        }
    };
    let (mut groups, mut problems, mut first_at) = (Vec::new(), Vec::new(), HashMap::new());
    for (i, item) in items.iter().enumerate() {
        let group = match item {
            Value::String(text) => GroupRef::parse(text).map_err(|e| e.to_string()),
            other => Err(format!("must be a string, got {}", kind(other))),
        };
        match group {
            Err(message) => problems.push((at(format!("[{i}]")), message)),
            Ok(group) => {
                if let Some(first) = first_at.get(&group.identity_key()) {
                    let note = match group {
                        GroupRef::ObjectId(_) => "",
                        GroupRef::DisplayName(_) => "; group names compare case-insensitively",
                    };
                    let message = format!(
                        "duplicate group {:?} (also at {GROUPS}[{first}]{note})",
                        group.to_string()
                    );
                    problems.push((at(format!("[{i}]")), message));
                } else {
                    first_at.insert(group.identity_key(), i);
                    groups.push(group);
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

/// Checks one entry; `seen` maps names to the index of their first entry and whether that name
/// was defaulted from the host.
fn workspace(
    index: usize,
    value: &Value,
    seen: &mut HashMap<WorkspaceName, (usize, bool)>,
    out: &mut Vec<Problem>,
) -> Option<(Workspace, PartialOptions)> {
    let Some(object) = value.as_object() else {
        let message = format!("must be an object, got {}", kind(value));
        out.push(Problem::new(format!("workspaces[{index}]"), message));
        return None;
    };
    let (unknown, suggested) = unknown_keys(object, WORKSPACE_KEYS);
    let mut local: Vec<Local> = unknown.into_iter().map(|message| (None, message)).collect();
    let missing = |key: &str| {
        let message = format!("missing required key {key:?} ({})", required_hint(key));
        (!suggested.contains(&key)).then_some((None, message))
    };

    let name = object
        .get(NAME)
        .map(|v| string_field(v, NAME, WorkspaceName::parse));
    let instance = object
        .get(INSTANCE)
        .map(|v| string_field(v, INSTANCE, WorkspaceUrl::parse));
    let groups = object.get(GROUPS).map(access_groups);
    let group_names = match (object.get(GROUP_NAMES), &groups) {
        (None, _) => Ok(BTreeMap::new()),
        (Some(value), Some(Ok(groups))) => group_names(value, groups),
        // The groups themselves are wrong: that problem is reported; the mapping is checked once they are right.
        (Some(_), _) => Ok(BTreeMap::new()),
    };
    let auth = workspace_auth(object.get(AUTH), object.get(TOKEN));
    if let Some(Err(problem)) = &name {
        local.push(problem.clone());
    }
    let (own_options, bad_options) = PartialOptions::read(object);
    match &instance {
        None => local.extend(missing(INSTANCE)),
        Some(Err(problem)) => local.push(problem.clone()),
        Some(Ok(_)) => {}
    }
    match &groups {
        None => local.extend(missing(GROUPS)),
        Some(Err(problems)) => local.extend(problems.iter().cloned()),
        Some(Ok(_)) => {}
    }
    match &auth {
        Err(Missing) => local.extend(missing(TOKEN)),
        Err(Invalid(problems)) => local.extend(problems.iter().cloned()),
        Ok(_) => {}
    }
    if let Err(problems) = &group_names {
        local.extend(problems.iter().cloned());
    }

    local.extend(
        bad_options
            .into_iter()
            .map(|(key, m)| (Some(format!(".{key}")), m)),
    );

    let host = match &instance {
        Some(Ok(url)) => Some(url.host()),
        _ => None,
    };
    let resolved = match (&name, host) {
        (Some(Ok(name)), _) => Some((name.clone(), false)),
        (None, Some(host)) => match WorkspaceName::parse(host) {
            Ok(name) => Some((name, true)),
            Err(e) => {
                let message = format!(
                    "has no \"name\" and the host of {INSTANCE} cannot be used as one: {e}; set \"name\""
                );
                local.push((None, message));
                None
            }
        },
        _ => None,
    };
    if let Some((name, defaulted)) = &resolved {
        match seen.get(name) {
            Some((first, first_defaulted)) => {
                let mut message = format!(
                    "duplicate workspace name: workspaces[{first}] and workspaces[{index}] are both \
                     named {:?} (names compare case-insensitively)",
                    name.as_str()
                );
                if *defaulted || *first_defaulted {
                    message.push_str(DEFAULTED_NOTE);
                }
                local.push((None, message));
            }
            None => {
                seen.insert(name.clone(), (index, *defaulted));
            }
        }
    }

    let label = resolved.as_ref().map(|(name, _)| name.as_str()).or(host);
    let entry = match label {
        Some(label) => format!("workspaces[{index}] ({label:?})"),
        None => format!("workspaces[{index}]"),
    };
    if !local.is_empty() {
        out.extend(local.into_iter().map(|(suffix, message)| {
            Problem::new(format!("{entry}{}", suffix.unwrap_or_default()), message)
        }));
        return None;
    }
    match (resolved, instance, groups, auth, group_names) {
        (
            Some((name, _)),
            Some(Ok(instance)),
            Some(Ok(access_groups)),
            Ok(auth),
            Ok(group_names),
        ) => {
            let workspace = Workspace {
                name,
                instance,
                access_groups,
                auth,
                group_names,
                options: SyncOptions::default(),
            };
            Some((workspace, own_options))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(json: &str) -> Vec<String> {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        match validate(&value) {
            Ok(workspaces) => panic!("accepted: {workspaces:?}"),
            Err(problems) => problems.iter().map(Problem::to_string).collect(),
        }
    }

    #[test]
    fn two_group_names_for_one_group_are_refused_not_one_silently_dropped() {
        let json = r#"{"workspaces": [{"name": "a", "databricksInstance": "https://h",
            "accessGroups": ["Eng"], "scimToken": "https://kv.vault.azure.net/secrets/p",
            "groupNames": {"eng": "x", "ENG": "y", "Eng": "z"}}]}"#;
        assert_eq!(
            problems(json),
            [
                r#"workspaces[0] ("a").groupNames.Eng: names the same group as groupNames.ENG: keep one of them"#,
                r#"workspaces[0] ("a").groupNames.eng: names the same group as groupNames.ENG: keep one of them"#,
            ]
        );
    }
}
