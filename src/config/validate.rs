//! The hand-written walk over the parsed JSON document that turns it into workspaces while
//! collecting every problem (serde derive would stop at the first). Entries are checked in
//! document order (`defaults` first); within an entry, unknown keys come first, then the known keys
//! in the order `name`, `databricksInstance`, `accessGroups`, `scimToken`, the options, then a
//! duplicate-name problem. Options (`options.rs`) resolve as entry, then `defaults`, then built-in.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

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
    let Some(top) = root.as_object() else {
        let message = format!(
            "must be a JSON object with the key \"workspaces\", got {}",
            kind(root)
        );
        return Err(vec![Problem::new("(top level)", message)]);
    };
    let (unknown, suggested) = unknown_keys(top, TOP_KEYS);
    let mut problems: Vec<Problem> = unknown
        .into_iter()
        .map(|message| Problem::new("(top level)", message))
        .collect();
    let defaults = defaults(top.get(DEFAULTS), &mut problems);
    let workspaces = workspaces(top.get(WORKSPACES), &suggested, &defaults, &mut problems);
    if problems.is_empty() {
        Ok(workspaces)
    } else {
        Err(problems)
    }
}

/// The top-level `defaults`: the options every entry falls back to (none when absent or wrong).
fn defaults(value: Option<&Value>, problems: &mut Vec<Problem>) -> PartialOptions {
    match value {
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
    }
}

/// The valid entries of `workspaces`, their options resolved over `defaults`; every problem of
/// every entry goes to `problems`.
fn workspaces(
    value: Option<&Value>,
    suggested: &[&str],
    defaults: &PartialOptions,
    problems: &mut Vec<Problem>,
) -> Vec<Workspace> {
    let entries = match workspace_entries(value, suggested) {
        Ok(entries) => entries,
        Err(problem) => {
            problems.extend(problem);
            return Vec::new();
        }
    };
    let mut seen = HashMap::new();
    let mut workspaces = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let found = workspace(index, entry, &mut seen, problems);
        workspaces.extend(found.map(|(ws, own)| Workspace {
            options: own.resolve(defaults.clone()),
            ..ws
        }));
    }
    workspaces
}

/// The entries of a non-empty `workspaces` array, or the problem with it (none when the key is
/// missing but an unknown key was taken for it: that key's problem says it all).
fn workspace_entries<'a>(
    value: Option<&'a Value>,
    suggested: &[&str],
) -> Result<&'a [Value], Option<Problem>> {
    match value {
        None if suggested.contains(&WORKSPACES) => Err(None),
        None => Err(Some(Problem::new(
            "(top level)",
            "missing required key \"workspaces\" (the array of workspaces to sync)",
        ))),
        Some(Value::Array(entries)) if entries.is_empty() => Err(Some(Problem::new(
            WORKSPACES,
            "must list at least one workspace, got an empty array",
        ))),
        Some(Value::Array(entries)) => Ok(entries),
        Some(other) => {
            let message = format!("must be an array of workspace objects, got {}", kind(other));
            Err(Some(Problem::new(WORKSPACES, message)))
        }
    }
}

/// `groupNames`: Entra group (as in `accessGroups`) → name of its mirrored workspace group. Keys are
/// stored as the matching `accessGroups` entry's text.
fn group_names(value: &Value, groups: &[GroupRef]) -> Result<BTreeMap<String, String>, Vec<Local>> {
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
        let named = mirrored_group(key, groups, &mut first_key)
            .and_then(|group| Ok((group, mirrored_name(target, &names)?)));
        match named {
            Ok((group, name)) => {
                names.insert(group.to_string(), name.to_owned());
            }
            Err(message) => problems.push((Some(format!(".{GROUP_NAMES}.{key}")), message)),
        }
    }
    if problems.is_empty() {
        Ok(names)
    } else {
        Err(problems)
    }
}

/// The `accessGroups` entry a `groupNames` key names, unless an earlier key (remembered in
/// `first_key`) already named it.
fn mirrored_group<'g, 'k>(
    key: &'k String,
    groups: &'g [GroupRef],
    first_key: &mut HashMap<String, &'k String>,
) -> Result<&'g GroupRef, String> {
    let group = GroupRef::parse(key)
        .ok()
        .and_then(|r| groups.iter().find(|g| g.identity_key() == r.identity_key()))
        .ok_or_else(|| "is not one of this workspace's accessGroups".to_owned())?;
    if let Some(first) = first_key.get(&group.identity_key()) {
        return Err(format!(
            "names the same group as {GROUP_NAMES}.{first}: keep one of them"
        ));
    }
    first_key.insert(group.identity_key(), key);
    Ok(group)
}

/// The workspace group a `groupNames` value names: not blank, not `admins` or `users`, and not
/// the name of another mirrored group (`taken`, compared ignoring case).
fn mirrored_name<'v>(
    target: &'v Value,
    taken: &BTreeMap<String, String>,
) -> Result<&'v str, String> {
    match target.as_str().map(str::trim) {
        Some(name)
            if !name.is_empty()
                && !name.eq_ignore_ascii_case("admins")
                && !name.eq_ignore_ascii_case("users") =>
        {
            if taken.values().any(|n| n.eq_ignore_ascii_case(name)) {
                Err(format!(
                    "{name:?} is already the name of another mirrored group"
                ))
            } else {
                Ok(name)
            }
        }
        _ => Err(format!(
            "must be the name of a workspace group (not \"admins\" or \"users\"), got {}",
            quoted_or_kind(target)
        )),
    }
}

/// A value for a message: a string quoted, anything else by its kind.
fn quoted_or_kind(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => kind(other).to_owned(),
    }
}

/// `scimToken` (a Key Vault secret URL holding a PAT, the default) or `auth: "managedIdentity"`
/// (the app's own Entra token); exactly one of them. `None` when neither is given.
fn workspace_auth(
    auth: Option<&Value>,
    token: Option<&Value>,
) -> Option<Result<WorkspaceAuth, Vec<Local>>> {
    let at = |key: &str| Some(format!(".{key}"));
    let managed = match auth {
        None => false,
        Some(Value::String(s)) if s == "pat" => false,
        Some(Value::String(s)) if s == "managedIdentity" => true,
        Some(other) => {
            let message = format!(
                "must be \"pat\" (a PAT from Key Vault, the default) or \"managedIdentity\", got {}",
                quoted_or_kind(other)
            );
            return Some(Err(vec![(at(AUTH), message)]));
        }
    };
    match (managed, token) {
        (true, None) => Some(Ok(WorkspaceAuth::ManagedIdentity)),
        (true, Some(_)) => Some(Err(vec![(
            at(TOKEN),
            "must not be given with \"auth\": \"managedIdentity\" (the workspace is called with the app's \
             managed identity, not a PAT): remove one of them"
                .to_owned(),
        )])),
        (false, None) => None,
        (false, Some(value)) => Some(
            string_field(value, TOKEN, SecretUrl::parse)
                .map(WorkspaceAuth::Pat)
                .map_err(|problem| vec![problem]),
        ),
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
    let mut entry = Entry::read(object);
    let host = entry.instance.as_ref().map(WorkspaceUrl::host);
    let resolved = resolved_name(entry.name.as_ref(), host).unwrap_or_else(|problem| {
        entry.problems.push(problem);
        None
    });
    if let Some((name, defaulted)) = &resolved {
        entry
            .problems
            .extend(duplicate_name(index, name, *defaulted, seen));
    }
    if !entry.problems.is_empty() {
        let label = resolved.as_ref().map(|(name, _)| name.as_str()).or(host);
        let at = entry_label(index, label);
        out.extend(entry.problems.into_iter().map(|(suffix, message)| {
            Problem::new(format!("{at}{}", suffix.unwrap_or_default()), message)
        }));
        return None;
    }
    let (name, _) = resolved?;
    entry.into_workspace(name)
}

/// The known keys of one entry, each read on its own: a value where it is valid, and every problem
/// in the order the module comment gives.
struct Entry {
    /// `None` without a `name` key; `Some(None)` for a `name` that is not valid.
    name: Option<Option<WorkspaceName>>,
    instance: Option<WorkspaceUrl>,
    access_groups: Option<Vec<GroupRef>>,
    auth: Option<WorkspaceAuth>,
    group_names: Option<BTreeMap<String, String>>,
    options: PartialOptions,
    problems: Vec<Local>,
}

impl Entry {
    fn read(object: &Map<String, Value>) -> Entry {
        let (unknown, suggested) = unknown_keys(object, WORKSPACE_KEYS);
        let mut problems: Vec<Local> = unknown.into_iter().map(|message| (None, message)).collect();
        // A required key that is missing, unless an unknown key was taken for it (already reported).
        let missing = |key: &str| {
            let message = format!("missing required key {key:?} ({})", required_hint(key));
            (!suggested.contains(&key)).then_some((None, message))
        };
        let name = object.get(NAME).map(|v| {
            string_field(v, NAME, WorkspaceName::parse)
                .map_err(|problem| problems.push(problem))
                .ok()
        });
        let instance = object
            .get(INSTANCE)
            .map(|v| string_field(v, INSTANCE, WorkspaceUrl::parse).map_err(|p| vec![p]));
        let instance = required(instance, missing(INSTANCE), &mut problems);
        let groups = object.get(GROUPS).map(access_groups);
        let access_groups = required(groups, missing(GROUPS), &mut problems);
        let auth = workspace_auth(object.get(AUTH), object.get(TOKEN));
        let auth = required(auth, missing(TOKEN), &mut problems);
        let group_names = match (object.get(GROUP_NAMES), &access_groups) {
            (Some(value), Some(groups)) => group_names(value, groups)
                .map_err(|found| problems.extend(found))
                .ok(),
            // No mapping; or the groups themselves are wrong: that problem is reported, and the
            // mapping is checked once they are right.
            _ => Some(BTreeMap::new()),
        };
        let (options, bad_options) = PartialOptions::read(object);
        problems.extend(
            bad_options
                .into_iter()
                .map(|(key, m)| (Some(format!(".{key}")), m)),
        );
        Entry {
            name,
            instance,
            access_groups,
            auth,
            group_names,
            options,
            problems,
        }
    }

    /// The workspace, named `name`, when every required key is valid (with its own options, to be
    /// resolved over `defaults`).
    fn into_workspace(self, name: WorkspaceName) -> Option<(Workspace, PartialOptions)> {
        let workspace = Workspace {
            name,
            instance: self.instance?,
            access_groups: self.access_groups?,
            auth: self.auth?,
            group_names: self.group_names?,
            options: SyncOptions::default(),
        };
        Some((workspace, self.options))
    }
}

/// The value of a required key; its problems, or `missing` when it is absent, go to `problems`.
fn required<T>(
    field: Option<Result<T, Vec<Local>>>,
    missing: Option<Local>,
    problems: &mut Vec<Local>,
) -> Option<T> {
    match field {
        None => {
            problems.extend(missing);
            None
        }
        Some(Err(found)) => {
            problems.extend(found);
            None
        }
        Some(Ok(value)) => Some(value),
    }
}

/// The entry's name and whether it was defaulted from the host of `databricksInstance`: its valid
/// `name`, else (no `name` at all) the host; `None` when neither gives one.
fn resolved_name(
    name: Option<&Option<WorkspaceName>>,
    host: Option<&str>,
) -> Result<Option<(WorkspaceName, bool)>, Local> {
    match (name, host) {
        (Some(Some(name)), _) => Ok(Some((name.clone(), false))),
        (None, Some(host)) => match WorkspaceName::parse(host) {
            Ok(name) => Ok(Some((name, true))),
            Err(e) => Err((
                None,
                format!(
                    "has no \"name\" and the host of {INSTANCE} cannot be used as one: {e}; set \"name\""
                ),
            )),
        },
        _ => Ok(None),
    }
}

/// The problem when an earlier entry (in `seen`) has the same name; else `name` is remembered.
fn duplicate_name(
    index: usize,
    name: &WorkspaceName,
    defaulted: bool,
    seen: &mut HashMap<WorkspaceName, (usize, bool)>,
) -> Option<Local> {
    let Some((first, first_defaulted)) = seen.get(name) else {
        seen.insert(name.clone(), (index, defaulted));
        return None;
    };
    let mut message = format!(
        "duplicate workspace name: workspaces[{first}] and workspaces[{index}] are both \
         named {:?} (names compare case-insensitively)",
        name.as_str()
    );
    if defaulted || *first_defaulted {
        message.push_str(DEFAULTED_NOTE);
    }
    Some((None, message))
}

/// How problems name the entry: `workspaces[2] ("analytics")`, or `workspaces[2]` without a name.
fn entry_label(index: usize, label: Option<&str>) -> String {
    match label {
        Some(label) => format!("workspaces[{index}] ({label:?})"),
        None => format!("workspaces[{index}]"),
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
