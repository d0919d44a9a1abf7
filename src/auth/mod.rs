//! Who the app is to Azure: the credential, and the check that it can get a token.
//!
//! The credential is chosen explicitly, once, and said: in Azure Functions (`IDENTITY_ENDPOINT` set)
//! the managed identity, system- or user-assigned (`AZURE_CLIENT_ID`); elsewhere the developer tools
//! credential (Azure CLI, then Azure Developer CLI). The IMDS address is never tried, so a laptop never
//! hangs on it. The Azure SDK's calls (the identity endpoint here, Key Vault in `keyvault/`) retry
//! with `bounded_retry`; an SDK error is said with its causes ([`causes`]).

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ExponentialRetryOptions, RetryOptions};
use azure_core::time::Duration;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};

use crate::settings::Settings;

/// The credential of this process and how it was chosen (for the log).
pub struct Identity {
    pub credential: Arc<dyn TokenCredential>,
    /// What it is, for messages: "system-assigned managed identity", ...
    pub name: String,
    /// Why it was chosen.
    pub reason: &'static str,
}

/// Chooses the credential from the settings.
///
/// # Errors
/// The chosen credential could not be constructed.
pub fn identity(settings: &Settings) -> Result<Identity, String> {
    match &settings.identity_endpoint {
        Some(_) => {
            let user_assigned_id = settings
                .azure_client_id
                .map(|id| UserAssignedId::ClientId(id.to_string()));
            let name = match &settings.azure_client_id {
                Some(id) => format!("user-assigned managed identity (client id {id})"),
                None => "system-assigned managed identity".to_owned(),
            };
            let mut options = ManagedIdentityCredentialOptions {
                user_assigned_id,
                ..Default::default()
            };
            options.client_options.retry = bounded_retry();
            let credential = ManagedIdentityCredential::new(Some(options))
                .map_err(|e| format!("cannot use the {name}: {e}"))?;
            Ok(Identity {
                credential,
                name,
                reason: "IDENTITY_ENDPOINT is set (running in Azure Functions)",
            })
        }
        None => {
            let credential = DeveloperToolsCredential::new(None)
                .map_err(|e| format!("cannot use the developer tools credential: {e}"))?;
            Ok(Identity {
                credential,
                name: "developer tools credential (`az login`, then `azd auth login`)".to_owned(),
                reason: "IDENTITY_ENDPOINT is not set (not running in Azure Functions); the managed-identity \
                         address 169.254.169.254 is never tried",
            })
        }
    }
}

/// An error and its sources, as one line: the SDK's own message is often only the outermost one
/// ("retry policy expired"), and the useful cause (DNS, refused connection, missing `az`) is below it.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for text in chain(error).map(ToString::to_string) {
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    // One line: reports and log lines are read line by line.
    parts
        .join(": ")
        .lines()
        .map(|l| l.trim().trim_end_matches(':'))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks that the credential can get a token for `scope`, so a missing login is said plainly
/// before any service is called.
///
/// # Errors
/// What the credential said, with its causes.
pub async fn check_token(
    identity: &Arc<dyn TokenCredential>,
    description: &str,
    scope: &str,
) -> Result<(), TokenError> {
    identity
        .get_token(&[scope], None)
        .await
        .map(drop)
        .map_err(|e| {
            let answer = match answered_status(&e) {
                Some(status) => format!("HTTP {status}: "),
                None if cut_off(&e) => "the answer was cut off: ".to_owned(),
                None if unreadable(&e) => "the answer could not be read: ".to_owned(),
                None => String::new(),
            };
            TokenError {
                identity: description.to_owned(),
                scope: scope.to_owned(),
                answer,
                causes: causes(&e),
            }
        })
}

/// The credential gave no token: which identity, for which scope, what answer came (if one did) and
/// the error's causes in words. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {identity} could not get a token for {scope}: {answer}{causes}")]
pub struct TokenError {
    pub identity: String,
    pub scope: String,
    /// `HTTP <status>: `, or what was wrong with the answer, or nothing.
    pub answer: String,
    pub causes: String,
}

/// `error` and its sources, outermost first.
fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |current| current.source())
}

/// The status of the answer an error in `error`'s chain was made from, if an answer came.
fn answered_status(error: &(dyn std::error::Error + 'static)) -> Option<u16> {
    chain(error).find_map(
        |current| match current.downcast_ref::<azure_core::Error>()?.kind() {
            ErrorKind::HttpResponse { status, .. } => Some(u16::from(*status)),
            _ => None,
        },
    )
}

/// Whether an answer came but was not what the SDK could read (not JSON, missing fields).
fn unreadable(error: &(dyn std::error::Error + 'static)) -> bool {
    chain(error).any(|current| {
        current
            .downcast_ref::<azure_core::Error>()
            .is_some_and(|e| matches!(e.kind(), ErrorKind::DataConversion))
    })
}

/// Whether an answer came but its body broke off (so "could not be reached" would be wrong).
pub(crate) fn cut_off(error: &(dyn std::error::Error + 'static)) -> bool {
    chain(error).any(|current| {
        current
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|e| e.is_body() || e.is_decode())
    })
}

/// Bounded retries for the SDK's calls (Key Vault, the identity endpoint; the SDK honours
/// `Retry-After` on 429/503): a vault or identity endpoint that keeps failing fails the run in about
/// 15 s of back-off instead of the SDK's default of over a minute. (A call that gets no answer at all
/// still takes the SDK's 60 s read time-out per attempt, two attempts at most.)
pub(crate) fn bounded_retry() -> RetryOptions {
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: Duration::milliseconds(500),
        max_retries: 4,
        max_total_elapsed: Duration::seconds(30),
        max_delay: Duration::seconds(10),
    })
}
