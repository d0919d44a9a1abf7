//! The configuration file: the "SCIM AD Groups" list of workspaces, read once and validated
//! completely. This module owns the file format (the legacy PowerShell keys `name`,
//! `databricksInstance`, `accessGroups`, `scimToken` under `workspaces`), loading it, and the
//! error that lists every problem at once; `validate.rs` (with `keys.rs`) walks the JSON, `types.rs`,
//! `workspace_url.rs` and `secret_url.rs` hold the value newtypes, `account.rs` the top-level
//! `account` (account mode, being built: issue 17). No message ever contains a secret.

mod account;
mod keys;
mod options;
mod secret_url;
mod types;
mod validate;
mod workspace_url;

pub use account::{Account, AccountRates, DEFAULT_ACCOUNT_HOST, KindRates};
pub use options::{
    DEFAULT_MANAGED_GROUP, DEFAULT_SCIM_RATE, Deprovision, Identities, MaxDeprovision, SyncOptions,
    UserNameSource,
};
pub use secret_url::SecretUrl;
pub use types::{GroupRef, InvalidValue, MAX_NAME_LEN, WorkspaceName};
pub use workspace_url::WorkspaceUrl;

pub(crate) use keys::kind as json_kind;

use std::fmt;
use std::path::{Path, PathBuf};

/// A validated configuration: at least one workspace, unique names; an `account` whenever a
/// workspace has `identities: "account"`.
///
/// Serializes back to the file format (`{"workspaces": [{"name", "databricksInstance",
/// "accessGroups", "scimToken"}], "account": {"accountId", "host"}}`), with every value normalized
/// and the options resolved into each workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub workspaces: Vec<Workspace>,
    /// The top-level `account`: the Databricks account of account mode (being built, issue 17).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// One Databricks workspace to keep in step with its Entra ID groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Workspace {
    pub name: WorkspaceName,
    #[serde(rename = "databricksInstance")]
    pub instance: WorkspaceUrl,
    /// The Databricks workspace id: `workspaceId` as written, else the one in the host of
    /// `databricksInstance` (`adb-<id>.…`, [`WorkspaceUrl::workspace_id`]); `None` when neither gives
    /// one (then `identities` is not `account`).
    #[serde(rename = "workspaceId", skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<u64>,
    #[serde(rename = "accessGroups")]
    pub access_groups: Vec<GroupRef>,
    /// How the workspace is called: `scimToken` or `auth: "managedIdentity"`.
    #[serde(flatten)]
    pub auth: WorkspaceAuth,
    /// `groupNames`: the configured group (its `accessGroups` text) → its mirrored workspace group's name.
    #[serde(
        rename = "groupNames",
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub group_names: std::collections::BTreeMap<String, String>,
    /// The sync options, with `defaults` applied.
    #[serde(flatten)]
    pub options: SyncOptions,
}

/// How the sync authenticates to a workspace's SCIM API.
// One per workspace, built once at start-up: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum WorkspaceAuth {
    /// A workspace-admin PAT read from this Key Vault secret (`scimToken`, the seed's way).
    #[serde(rename = "scimToken")]
    Pat(SecretUrl),
    /// The app's managed identity, which must be a workspace admin (`auth: "managedIdentity"`).
    #[serde(rename = "auth", serialize_with = "managed_identity")]
    ManagedIdentity,
}

fn managed_identity<S: serde::Serializer>(serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("managedIdentity")
}

/// One thing wrong with the configuration, located by entry and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `workspaces[1] ("analytics-prod").scimToken`, `workspaces`, `(top level)` or `(file)`.
    pub location: String,
    pub message: String,
}

impl Problem {
    /// A problem at `location`.
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}", read_message(path, source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration; `problems` lists everything found.
    #[error("{}", invalid_message(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn read_message(path: &Path, source: &std::io::Error) -> String {
    if source.kind() == std::io::ErrorKind::NotFound {
        format!(
            "configuration file {} not found (set SYNC_CONFIG_PATH or pass --config to use another file)",
            path.display()
        )
    } else {
        format!(
            "cannot read configuration file {}: {source}",
            path.display()
        )
    }
}

fn invalid_message(path: &Path, problems: &[Problem]) -> String {
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let mut message = format!("invalid configuration {}: {count} {noun}", path.display());
    for problem in problems {
        message.push_str("\n  - ");
        message.push_str(&problem.to_string());
    }
    message
}

impl ConfigError {
    /// One line per problem, for JSON answers; a read error gives a single line.
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Read { .. } => vec![self.to_string()],
            Self::Invalid { problems, .. } => problems.iter().map(Problem::to_string).collect(),
        }
    }

    /// The configuration file concerned.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. } | Self::Invalid { path, .. } => path,
        }
    }

    fn file(path: &Path, message: String) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem::new("(file)", message)],
        }
    }
}

impl Workspace {
    /// The name of the workspace group that mirrors `reference`: its `groupNames` entry, else the Entra
    /// group's display name.
    pub fn mirrored_group_name(&self, reference: &GroupRef, entra_display_name: &str) -> String {
        self.group_names
            .get(&reference.to_string())
            .cloned()
            .unwrap_or_else(|| entra_display_name.to_owned())
    }
}

impl Config {
    /// Reads and validates the file at `path` (UTF-8, an optional byte order mark is ignored).
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read; [`ConfigError::Invalid`] when it is
    /// not UTF-8 or not a valid configuration (see [`Config::parse`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
            let message = "is saved as UTF-16: save it as UTF-8".to_owned();
            return Err(ConfigError::file(path, message));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            ConfigError::file(
                path,
                format!("is not valid UTF-8 (at byte {at}): save it as UTF-8"),
            )
        })?;
        Self::parse(&text, path)
    }

    /// Validates configuration text; `path` is only used in messages.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem found: a JSON syntax error (then the only
    /// problem), unknown or missing keys, wrong types, invalid values, duplicate names.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::file(path, format!("not valid JSON: {e}")))?;
        validate::validate(&value).map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// The workspace with this name (names compare case-insensitively).
    pub fn workspace(&self, name: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.name.matches(name))
    }

    /// The workspace names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &WorkspaceName> {
        self.workspaces.iter().map(|w| &w.name)
    }
}
