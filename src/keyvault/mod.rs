//! Key Vault: the workspace tokens (PATs) the configuration names by secret URL, read with the app's
//! identity through `azure_security_keyvault_secrets`, one client per vault for the life of the
//! process. A refusal is said in words (`explain`): a 403 told apart from its body (the RBAC role, an
//! access policy, the firewall; `tests.rs`), naming the vault and where to grant what is missing, never
//! the value. Values live in `SecretString` and are never formatted.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use secrecy::SecretString;

use crate::auth::{bounded_retry, causes, cut_off};
use crate::config::SecretUrl;

#[cfg(test)]
mod tests;

/// Why a workspace token could not be read. Names the secret URL, never the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read the workspace token from Key Vault secret {url}: {cause}")]
pub struct SecretError {
    pub url: String,
    pub cause: String,
}

/// Reads workspace tokens from Key Vault with the app's identity.
#[derive(Clone)]
pub struct Secrets {
    credential: Arc<dyn TokenCredential>,
    /// One client per vault for the life of the process: a client learns the vault's token scope from
    /// its first 401 challenge, so a new client per read would pay that round trip every time.
    clients: Arc<std::sync::Mutex<std::collections::HashMap<String, VaultClient>>>,
}

/// A vault's client, and whether a read through it has succeeded yet (until then reads go one at a
/// time, so that concurrent first reads do not each meet the challenge).
#[derive(Clone)]
struct VaultClient {
    client: Arc<SecretClient>,
    primed: Arc<tokio::sync::Mutex<bool>>,
}

impl Secrets {
    pub fn new(credential: Arc<dyn TokenCredential>) -> Secrets {
        Secrets {
            credential,
            clients: Arc::default(),
        }
    }

    fn client(&self, vault: &str) -> azure_core::Result<VaultClient> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(vault) {
            return Ok(client.clone());
        }
        let client = VaultClient {
            client: Arc::new(SecretClient::new(
                vault,
                Arc::clone(&self.credential),
                Some(client_options()),
            )?),
            primed: Arc::default(),
        };
        clients.insert(vault.to_owned(), client.clone());
        Ok(client)
    }

    /// The value of the secret at `url`.
    ///
    /// # Errors
    /// The vault refused or has no such secret, said in words.
    pub async fn read(&self, url: &SecretUrl) -> Result<SecretString, SecretError> {
        let failed = |cause: String| SecretError {
            url: url.to_string(),
            cause,
        };
        let vault = self
            .client(url.vault_url().as_str())
            .map_err(|e| failed(e.to_string()))?;
        let mut primed = vault.primed.lock().await;
        if *primed {
            drop(primed);
            return read_secret(&vault.client, url).await;
        }
        let read = read_secret(&vault.client, url).await;
        *primed = read.is_ok();
        read
    }
}

async fn read_secret(client: &SecretClient, url: &SecretUrl) -> Result<SecretString, SecretError> {
    let failed = |cause: String| SecretError {
        url: url.to_string(),
        cause,
    };
    let options = SecretClientGetSecretOptions {
        secret_version: url.version().map(str::to_owned),
        ..Default::default()
    };
    let response = client
        .get_secret(url.name(), Some(options))
        .await
        .map_err(|e| failed(explain(&e, &url.vault_url())))?;
    let secret = response
        .into_model()
        .map_err(|e| failed(format!("the answer could not be read ({e})")))?;
    match secret.value {
        Some(value) if !value.trim().is_empty() => Ok(SecretString::from(value.trim().to_owned())),
        _ => Err(failed("the secret is empty".to_owned())),
    }
}

fn client_options() -> SecretClientOptions {
    let mut options = SecretClientOptions::default();
    options.client_options.retry = bounded_retry();
    options
}

/// Why a vault refused the app's identity (403), from its answer: Key Vault's `innererror.code` and
/// message tell its Azure RBAC check (`ForbiddenByRbac`), its access policies (`AccessDenied`, "does
/// not have secrets get permission") and its firewall ("Client address is not authorized", "Public
/// network access is disabled") apart. Each says what is missing on which vault and where to grant it;
/// an answer that says none of these names all three.
fn forbidden(code: &str, vault: &url::Url, body: &[u8]) -> String {
    let vault = vault.host_str().unwrap_or("the vault");
    let answer: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &answer["error"];
    let inner = error["innererror"]["code"].as_str().unwrap_or("");
    let message = error["message"].as_str().unwrap_or("");
    const ROLE: &str = "the role \"Key Vault Secrets User\" on the vault (its Access control (IAM); the \
        deployment assigns it on the vault it creates or is given)";
    const POLICY: &str = "an access policy for the app's identity with Get on secrets (the vault's Access \
        policies)";
    let why = if inner == "ForbiddenByRbac" {
        format!("the app's identity lacks {ROLE}")
    } else if inner == "AccessDenied" || message.contains("does not have secrets get permission") {
        format!(
            "the vault uses access policies and the app's identity lacks {POLICY}; or switch the vault to \
             Azure RBAC and give it {ROLE}"
        )
    } else if inner == "ForbiddenByFirewall"
        || message.contains("Client address is not authorized")
        || message.contains("Public network access is disabled")
    {
        "the vault's firewall refused the app's address: allow the app's virtual network or outbound \
         addresses in the vault's Networking, or reach it through a private endpoint (networkIsolation)"
            .to_owned()
    } else {
        format!(
            "the app's identity lacks {ROLE}, or, if the vault uses access policies, {POLICY}; or the \
             vault's firewall blocks the app"
        )
    };
    let inner = if inner.is_empty() {
        String::new()
    } else {
        format!(" ({inner})")
    };
    format!("HTTP 403 {code}{inner} from vault {vault}: {why}")
}

fn explain(error: &azure_core::Error, vault: &url::Url) -> String {
    if cut_off(error) {
        return format!("the answer was cut off: {}", causes(error));
    }
    match error.kind() {
        ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let code = error_code.as_deref().unwrap_or("");
            match u16::from(*status) {
                403 => {
                    let body = raw_response.as_ref().map(|r| r.body().as_ref());
                    forbidden(code, vault, body.unwrap_or_default())
                }
                404 => {
                    format!("HTTP 404 {code}: there is no such secret (or version) in this vault")
                }
                401 => format!("HTTP 401 {code}: the vault did not accept the app's token"),
                429 => format!(
                    "HTTP 429 {code}: the vault is throttling the app's reads (retried until the retry policy gave up)"
                ),
                other @ 500..=599 => format!(
                    "HTTP {other} {code}: the vault is unavailable (retried until the retry policy gave up)"
                ),
                other => format!("HTTP {other} {code}"),
            }
        }
        ErrorKind::Credential => format!("no token for Key Vault: {}", causes(error)),
        ErrorKind::Connection | ErrorKind::Io => {
            format!("the vault could not be reached: {}", causes(error))
        }
        _ => causes(error),
    }
}
