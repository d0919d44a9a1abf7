//! The hand-written walk over the parsed JSON document that turns it into workspaces while
//! collecting every problem (serde derive would stop at the first). The top level's unknown keys come
//! first, then `defaults`, then `account` (`account.rs`), then the entries in document order; within
//! an entry, unknown keys come first, then the known keys in the order `name`, `databricksInstance`,
//! `accessGroups`, `scimToken`, the options, `identities: "account"` without an `account`,
//! `workspaceId`, then a duplicate-name problem. Options (`options.rs`) resolve as entry, then
//! `defaults`, then built-in.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::account::{self, ACCOUNT};
use super::keys::{kind, unknown_keys};
use super::options::{self, IDENTITIES, Identities, OPTION_KEYS, PartialOptions, describe};
use super::types::InvalidValue;
use super::{
    Config, GroupRef, Problem, SecretUrl, SyncOptions, Workspace, WorkspaceAuth, WorkspaceName,
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
const WORKSPACE_ID: &str = "workspaceId";
const TOP_KEYS: &[&str] = &[WORKSPACES, DEFAULTS, ACCOUNT];
const WORKSPACE_KEYS: &[&str] = &[
    NAME,
    INSTANCE,
    WORKSPACE_ID,
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
    IDENTITIES,
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

/// `identities: "account"` in a file without the top-level `account`.
const NEEDS_ACCOUNT: &str = "is \"account\", which needs the top-level \"account\" object with \"accountId\" \
     (the Azure Databricks account id): add \"account\": {\"accountId\": \"<GUID>\"} next to \"workspaces\", \
     or use \"workspace\"";

/// What every entry is checked against besides itself.
struct Context<'a> {
    defaults: &'a PartialOptions,
    /// The file has a top-level `account` (valid or not: its problems are its own), or a key taken for it.
    has_account: bool,
}

/// Validates the whole document; on failure, every problem found, in document order.
pub(super) fn validate(root: &Value) -> Result<Config, Vec<Problem>> {
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
    // `None` without the key; `Some(None)` for an `account` with problems (already reported).
    let account = top.get(ACCOUNT).map(|value| {
        account::account(value)
            .map_err(|found| problems.extend(found))
            .ok()
    });
    let has_account = account.is_some() || suggested.contains(&ACCOUNT);
    if !has_account && defaults.identities() == Some(Identities::Account) {
        let at = format!("{DEFAULTS}.{IDENTITIES}");
        problems.push(Problem::new(at, NEEDS_ACCOUNT));
    }
    let context = Context {
        defaults: &defaults,
        has_account,
    };
    let workspaces = workspaces(top.get(WORKSPACES), &suggested, &context, &mut problems);
    if problems.is_empty() {
        Ok(Config {
            workspaces,
            account: account.flatten(),
        })
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
    context: &Context,
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
        let found = workspace(index, entry, context, &mut seen, problems);
        workspaces.extend(found.map(|(ws, own)| Workspace {
            options: own.resolve(context.defaults.clone()),
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
    context: &Context,
    seen: &mut HashMap<WorkspaceName, (usize, bool)>,
    out: &mut Vec<Problem>,
) -> Option<(Workspace, PartialOptions)> {
    let Some(object) = value.as_object() else {
        let message = format!("must be an object, got {}", kind(value));
        out.push(Problem::new(format!("workspaces[{index}]"), message));
        return None;
    };
    let mut entry = Entry::read(object, context);
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
    /// `workspaceId`, else the id in the workspace URL.
    workspace_id: Option<u64>,
    problems: Vec<Local>,
}

impl Entry {
    fn read(object: &Map<String, Value>, context: &Context) -> Entry {
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
        let workspace_id = account_mode(object, instance.as_ref(), &options, context)
            .map_err(|found| problems.extend(found))
            .ok()
            .flatten();
        Entry {
            name,
            instance,
            access_groups,
            auth,
            group_names,
            options,
            workspace_id,
            problems,
        }
    }

    /// The workspace, named `name`, when every required key is valid (with its own options, to be
    /// resolved over `defaults`).
    fn into_workspace(self, name: WorkspaceName) -> Option<(Workspace, PartialOptions)> {
        let workspace = Workspace {
            name,
            instance: self.instance?,
            workspace_id: self.workspace_id,
            access_groups: self.access_groups?,
            auth: self.auth?,
            group_names: self.group_names?,
            options: SyncOptions::default(),
        };
        Some((workspace, self.options))
    }
}

/// The entry's workspace id (`workspaceId`, else the one in its URL), checked with what account mode
/// needs: an `account` in the file for an entry's own `identities: "account"` (one from `defaults`
/// is reported there, once), and a workspace id. An `identities` that is not valid is reported with
/// the options, and account mode is checked once it is.
fn account_mode(
    object: &Map<String, Value>,
    instance: Option<&WorkspaceUrl>,
    options: &PartialOptions,
    context: &Context,
) -> Result<Option<u64>, Vec<Local>> {
    let own = object.contains_key(IDENTITIES);
    let identities = if own {
        options.identities()
    } else {
        Some(context.defaults.identities().unwrap_or_default())
    };
    let account_mode = identities == Some(Identities::Account);
    let mut problems = Vec::new();
    if own && account_mode && !context.has_account {
        problems.push((Some(format!(".{IDENTITIES}")), NEEDS_ACCOUNT.to_owned()));
    }
    let at_id = || Some(format!(".{WORKSPACE_ID}"));
    let in_url = instance.and_then(WorkspaceUrl::workspace_id);
    let explicit = match object.get(WORKSPACE_ID).map(workspace_id) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(message)) => {
            problems.push((at_id(), message));
            None
        }
    };
    if let (Some(id), Some(instance), Some(url_id)) = (explicit, instance, in_url)
        && id != url_id
    {
        problems.push((
            at_id(),
            format!(
                "is {id} but {INSTANCE} \"{instance}\" is the workspace {url_id} (the number after \"adb-\"): \
                 correct one of them, or remove \"{WORKSPACE_ID}\""
            ),
        ));
    }
    if let Some(instance) = instance
        && account_mode
        && in_url.is_none()
        && !object.contains_key(WORKSPACE_ID)
    {
        let from = if own { "" } else { " (from defaults)" };
        problems.push((
            None,
            format!(
                "has \"{IDENTITIES}\": \"account\"{from}, which needs the workspace id, and the host of {INSTANCE} \
                 ({:?}) does not carry one: add \"{WORKSPACE_ID}\", the number after \"adb-\" in the workspace URL \
                 (on a legacy regional URL, the number after \"?o=\" in the browser's address bar)",
                instance.host()
            ),
        ));
    }
    if problems.is_empty() {
        Ok(explicit.or(in_url))
    } else {
        Err(problems)
    }
}

/// `workspaceId`: a number, or a string of digits, above 0 and within `u64`.
fn workspace_id(value: &Value) -> Result<u64, String> {
    let id = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let digits = s.trim();
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().ok())
                .flatten()
        }
        other => {
            return Err(format!(
                "must be the Databricks workspace id, a number like 1234567890123456 (or a string of its \
                 digits), got {}",
                kind(other)
            ));
        }
    };
    id.filter(|id| *id > 0).ok_or_else(|| {
        format!(
            "must be the Databricks workspace id, a whole number from 1 to {}, got {}",
            u64::MAX,
            describe(value)
        )
    })
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

    const TOKEN: &str = "https://kv.vault.azure.net/secrets/p";
    const ACCOUNT_ID: &str = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

    /// A file with one workspace at `instance` carrying `extra` keys, and `top` keys beside `workspaces`.
    fn file(top: &str, instance: &str, extra: &str) -> String {
        format!(
            r#"{{{top} "workspaces": [{{"name": "a", "databricksInstance": "{instance}",
               "accessGroups": "G", "scimToken": "{TOKEN}"{extra}}}]}}"#
        )
    }

    fn account_key() -> String {
        format!(r#""account": {{"accountId": "{ACCOUNT_ID}"}},"#)
    }

    fn valid(json: &str) -> Config {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        match validate(&value) {
            Ok(config) => config,
            Err(problems) => panic!("refused: {problems:?}"),
        }
    }

    #[test]
    fn account_mode_takes_the_workspace_id_from_the_url_or_from_workspace_id() {
        let config = valid(&file(
            &account_key(),
            "https://adb-5555555555555555.19.azuredatabricks.net/",
            r#", "identities": "account""#,
        ));
        let ws = &config.workspaces[0];
        assert_eq!(ws.options.identities, Identities::Account);
        assert_eq!(ws.workspace_id, Some(5555555555555555));
        let account = config.account.as_ref().expect("account");
        assert_eq!(account.account_id.to_string(), ACCOUNT_ID);
        assert_eq!(
            account.host.as_str(),
            "https://accounts.azuredatabricks.net/"
        );

        // A legacy regional URL carries no id: workspaceId gives it, as a number or a string of digits.
        for id in ["1234567890123456", r#"" 1234567890123456 ""#] {
            let config = valid(&file(
                &account_key(),
                "https://westeurope.azuredatabricks.net",
                &format!(r#", "identities": "account", "workspaceId": {id}"#),
            ));
            assert_eq!(config.workspaces[0].workspace_id, Some(1234567890123456));
        }
        // The same id written and in the URL is fine.
        let config = valid(&file(
            "",
            "https://adb-42.1.azuredatabricks.net",
            r#", "workspaceId": "42""#,
        ));
        assert_eq!(config.workspaces[0].workspace_id, Some(42));
    }

    #[test]
    fn workspace_mode_is_the_default_and_needs_neither_account_nor_workspace_id() {
        let config = valid(&file("", "https://westeurope.azuredatabricks.net", ""));
        let ws = &config.workspaces[0];
        assert_eq!(ws.options.identities, Identities::Workspace);
        assert_eq!((ws.workspace_id, &config.account), (None, &None));
        // An account that no workspace uses yet is fine.
        let config = valid(&file(
            &account_key(),
            "https://adb-7.1.azuredatabricks.net",
            r#", "identities": "workspace""#,
        ));
        assert!(config.account.is_some());
        assert_eq!(
            config.workspaces[0].workspace_id,
            Some(7),
            "derived in any mode"
        );
    }

    #[test]
    fn account_mode_without_an_account_is_reported_where_it_is_asked_for() {
        let needs = "is \"account\", which needs the top-level \"account\" object with \"accountId\" \
             (the Azure Databricks account id): add \"account\": {\"accountId\": \"<GUID>\"} next to \
             \"workspaces\", or use \"workspace\"";
        assert_eq!(
            problems(&file(
                "",
                "https://adb-1.2.azuredatabricks.net",
                r#", "identities": "account""#
            )),
            [format!(r#"workspaces[0] ("a").identities: {needs}"#)]
        );
        // From defaults: once, there (not once per workspace).
        let json = format!(
            r#"{{"defaults": {{"identities": "account"}}, "workspaces": [
                {{"name": "a", "databricksInstance": "https://adb-1.2.azuredatabricks.net", "accessGroups": "G", "scimToken": "{TOKEN}"}},
                {{"name": "b", "databricksInstance": "https://adb-3.2.azuredatabricks.net", "accessGroups": "G", "scimToken": "{TOKEN}"}}]}}"#
        );
        assert_eq!(problems(&json), [format!("defaults.identities: {needs}")]);
        // A misspelt or wrong account is reported as such, not also as missing.
        assert_eq!(
            problems(&file(
                r#""acount": {},"#,
                "https://adb-1.2.azuredatabricks.net",
                r#", "identities": "account""#
            )),
            [r#"(top level): unknown key "acount" (did you mean "account"?)"#]
        );
        assert_eq!(
            problems(&file(
                r#""account": "x","#,
                "https://adb-1.2.azuredatabricks.net",
                r#", "identities": "account""#
            )),
            [
                r#"account: must be an object with "accountId" (and optionally "host"), got a string"#
            ]
        );
    }

    #[test]
    fn account_mode_needs_a_workspace_id_and_says_where_to_find_it() {
        let missing = |from: &str| {
            format!(
                r#"workspaces[0] ("a"): has "identities": "account"{from}, which needs the workspace id, and the host of databricksInstance ("westeurope.azuredatabricks.net") does not carry one: add "workspaceId", the number after "adb-" in the workspace URL (on a legacy regional URL, the number after "?o=" in the browser's address bar)"#
            )
        };
        assert_eq!(
            problems(&file(
                &account_key(),
                "https://westeurope.azuredatabricks.net",
                r#", "identities": "account""#
            )),
            [missing("")]
        );
        assert_eq!(
            problems(&format!(
                r#"{{"defaults": {{"identities": "account"}}, {}"#,
                &file(&account_key(), "https://westeurope.azuredatabricks.net", "")[1..]
            )),
            [missing(" (from defaults)")]
        );
        // Both problems at once.
        let both = problems(&file(
            "",
            "https://westeurope.azuredatabricks.net",
            r#", "identities": "account""#,
        ));
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both[0].starts_with(r#"workspaces[0] ("a").identities: is "account""#));
        assert_eq!(both[1], missing(""));
    }

    #[test]
    fn a_workspace_id_that_disagrees_with_the_url_names_both() {
        assert_eq!(
            problems(&file(
                "",
                "https://adb-5555555555555555.19.azuredatabricks.net",
                r#", "workspaceId": 5555555555555556"#
            )),
            [
                r#"workspaces[0] ("a").workspaceId: is 5555555555555556 but databricksInstance "https://adb-5555555555555555.19.azuredatabricks.net" is the workspace 5555555555555555 (the number after "adb-"): correct one of them, or remove "workspaceId""#
            ]
        );
    }

    #[test]
    fn bad_workspace_ids_and_identities_are_reported() {
        let url = "https://westeurope.azuredatabricks.net";
        let range = "must be the Databricks workspace id, a whole number from 1 to 18446744073709551615, got";
        for (id, got) in [
            ("0", "0"),
            ("-5", "-5"),
            ("1.5", "1.5"),
            ("18446744073709551616", "1.8446744073709552e+19"),
            (r#""0""#, r#""0""#),
            (r#""12a""#, r#""12a""#),
            (r#""+12""#, r#""+12""#),
            (r#""""#, r#""""#),
            (r#""18446744073709551616""#, r#""18446744073709551616""#),
        ] {
            assert_eq!(
                problems(&file("", url, &format!(r#", "workspaceId": {id}"#))),
                [format!(r#"workspaces[0] ("a").workspaceId: {range} {got}"#)],
                "{id}"
            );
        }
        assert_eq!(
            problems(&file("", url, r#", "workspaceId": [1]"#)),
            [
                r#"workspaces[0] ("a").workspaceId: must be the Databricks workspace id, a number like 1234567890123456 (or a string of its digits), got an array"#
            ]
        );
        // A bad identities is reported alone: account mode is checked once it is right.
        assert_eq!(
            problems(&format!(
                r#"{{"defaults": {{"identities": "account"}}, {}"#,
                &file(&account_key(), url, r#", "identities": "acount""#)[1..]
            )),
            [
                r#"workspaces[0] ("a").identities: must be "workspace" (the default: identities are provisioned in the workspace) or "account" (at the Databricks account, then assigned to the workspace), got "acount""#
            ]
        );
        assert_eq!(
            problems(&file("", url, r#", "identitys": "account""#)),
            [r#"workspaces[0] ("a"): unknown key "identitys" (did you mean "identities"?)"#]
        );
    }

    #[test]
    fn account_mode_configurations_serialize_back_and_parse_equal() {
        let json = format!(
            r#"{{"defaults": {{"identities": "account"}},
                "account": {{"accountId": "{}", "host": "https://accounts.azuredatabricks.us/"}},
                "workspaces": [
                {{"name": "a", "databricksInstance": "https://adb-5555555555555555.19.azuredatabricks.us", "accessGroups": "G", "scimToken": "{TOKEN}"}},
                {{"name": "b", "databricksInstance": "https://westus.azuredatabricks.net", "workspaceId": "77", "accessGroups": "G", "auth": "managedIdentity"}},
                {{"name": "c", "databricksInstance": "https://dbx.example.com", "accessGroups": "G", "scimToken": "{TOKEN}", "identities": "workspace"}}]}}"#,
            ACCOUNT_ID.to_uppercase()
        );
        let config = valid(&json);
        let written = serde_json::to_value(&config).expect("serializes");
        assert_eq!(
            written["account"],
            serde_json::json!({"accountId": ACCOUNT_ID, "host": "https://accounts.azuredatabricks.us"})
        );
        assert_eq!(
            written["workspaces"][0]["workspaceId"],
            5555555555555555_u64
        );
        assert_eq!(written["workspaces"][0]["identities"], "account");
        assert_eq!(written["workspaces"][1]["workspaceId"], 77);
        assert_eq!(written["workspaces"][2]["identities"], "workspace");
        assert!(written["workspaces"][2].get("workspaceId").is_none());
        assert_eq!(valid(&written.to_string()), config);
        let without = valid(&file("", "https://dbx.example.com", ""));
        assert!(
            serde_json::to_value(&without)
                .expect("serializes")
                .get("account")
                .is_none()
        );
    }
}
