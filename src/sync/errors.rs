//! Why a workspace's sync stopped as a whole: one enum per stage of the gather, each variant named
//! after the operation that failed and carrying its typed cause (`GraphError`, `SecretError`,
//! `ScimError`). Their `Display` is the report's `error` (the words are pinned by `tests/it`); the
//! text is made once, where the workspace's report is finished (`engine.rs`). The causes are `Clone`,
//! so a run's [`super::memo::Memo`]s share a failed read with every workspace that needs it.

use crate::databricks::ScimError;
use crate::entra::GraphError;
use crate::keyvault::SecretError;

/// Why a workspace's sync failed, or did not finish, before its plan was applied in full.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// The workspace's PAT could not be read from Key Vault (the bearer of a `scimToken` workspace).
    #[error(transparent)]
    ReadSecret(#[from] SecretError),
    #[error(transparent)]
    Entra(#[from] EntraError),
    #[error(transparent)]
    MirrorGroups(#[from] NamingError),
    #[error(transparent)]
    ReadWorkspace(#[from] ReadError),
    /// Account mode: the account's part of the run, or this workspace's assignments there, failed.
    #[error("{0}")]
    Account(String),
    #[error(
        "not started: the run's time budget (SYNC_MAX_RUN_SECONDS={max_run_seconds}) was spent on the other \
         workspaces; the next run syncs it"
    )]
    NotStarted { max_run_seconds: u64 },
    #[error(
        "stopped: the run's time budget (SYNC_MAX_RUN_SECONDS={max_run_seconds}) and {grace_seconds} s of grace \
         were spent while a call was still waiting for an answer; the changes made so far stay, and the next \
         run plans the rest again"
    )]
    Stopped {
        max_run_seconds: u64,
        grace_seconds: u64,
    },
}

impl SyncError {
    /// Work left for the next run rather than a failure: the time budget, not a service, ended it.
    pub fn is_deferred(&self) -> bool {
        matches!(
            self,
            SyncError::NotStarted { .. } | SyncError::Stopped { .. }
        )
    }
}

/// The run's credential gives no token (checked once per run, before any service is called): the
/// identity, the scope and the causes ([`crate::auth::TokenError`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct SignInError(#[from] pub crate::auth::TokenError);

/// A configured Entra group could not be read to the end.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EntraError {
    #[error(transparent)]
    ResolveGroup(GraphError),
    #[error(transparent)]
    ListUserMembers(GraphError),
    #[error(transparent)]
    ListServicePrincipalMembers(GraphError),
}

/// A mirrored group's name breaks the rules of `groupNames`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error(
        "the Entra group {name:?} cannot be mirrored under that name: it is a group the sync must not \
         manage; give it another name in groupNames"
    )]
    Reserved { name: String },
    #[error("two configured groups would be mirrored as {name:?}: tell them apart in groupNames")]
    Twice { name: String },
}

/// A read of the workspace (over SCIM) failed: nothing is written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("cannot list the workspace's users: {0}")]
    ListUsers(#[source] ScimError),
    #[error("cannot list the workspace's service principals: {0}")]
    ListServicePrincipals(#[source] ScimError),
    /// The marker group or a mirrored group.
    #[error("cannot read the workspace group {name:?}: {source}")]
    ReadGroup { name: String, source: ScimError },
    #[error("cannot read the token's own identity (/Me): {0}")]
    ReadMe(#[source] ScimError),
    #[error("cannot read the workspace group \"admins\": {0}")]
    ReadAdmins(#[source] ScimError),
}

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct StartError(#[source] pub reqwest::Error);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_those_the_report_has_always_shown() {
        let reserved = NamingError::Reserved {
            name: "admins".to_owned(),
        };
        assert_eq!(
            reserved.to_string(),
            "the Entra group \"admins\" cannot be mirrored under that name: it is a group the sync must not \
             manage; give it another name in groupNames"
        );
        let stopped = SyncError::Stopped {
            max_run_seconds: 2,
            grace_seconds: 30,
        };
        assert_eq!(
            stopped.to_string(),
            "stopped: the run's time budget (SYNC_MAX_RUN_SECONDS=2) and 30 s of grace were spent while a \
             call was still waiting for an answer; the changes made so far stay, and the next run plans the \
             rest again"
        );
        let not_started = SyncError::NotStarted { max_run_seconds: 9 };
        assert_eq!(
            not_started.to_string(),
            "not started: the run's time budget (SYNC_MAX_RUN_SECONDS=9) was spent on the other workspaces; \
             the next run syncs it"
        );
        assert!(stopped.is_deferred() && !SyncError::from(reserved).is_deferred());
    }
}
