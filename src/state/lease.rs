//! A workspace's blob lease: taken before its sync, renewed while it runs, released after it, and named
//! (the holder in the blob's metadata) so a caller that finds it busy can say who has it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use azure_core::http::RequestContent;
use azure_storage_blob::BlobClient;
use azure_storage_blob::models::{
    BlobClientAcquireLeaseResultHeaders, BlobClientGetPropertiesResultHeaders,
    BlobClientSetMetadataOptions, BlobClientUploadOptions, LeaseState,
};
use serde::Serialize;
use tokio::sync::watch;

use super::{LEASE_SECONDS, RENEW_EVERY, StateError, StateStore, code_of};
use crate::config::WorkspaceName;

/// Who holds a workspace: the run, what started it, when, and on which instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub run_id: String,
    pub trigger: String,
    pub started_at: String,
    pub instance: String,
}

impl Holder {
    fn to_metadata(&self) -> HashMap<String, String> {
        [
            ("runid", &self.run_id),
            ("trigger", &self.trigger),
            ("startedat", &self.started_at),
            ("instance", &self.instance),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), header_safe(v)))
        .collect()
    }

    fn from_metadata(metadata: &HashMap<String, String>) -> Option<Holder> {
        let get = |key: &str| {
            metadata
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        Some(Holder {
            run_id: get("runid")?,
            trigger: get("trigger").unwrap_or_default(),
            started_at: get("startedat").unwrap_or_default(),
            instance: get("instance").unwrap_or_default(),
        })
    }
}

/// Metadata values travel as header values: printable ASCII only.
fn header_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The outcome of [`StateStore::try_lease`].
#[derive(Debug)]
pub enum Taken {
    /// This process holds the workspace until the lease is released or dropped.
    Held(Lease),
    /// Someone else does: who, if the blob says (a holder that has just taken it may not have
    /// written its name yet).
    Busy(Option<Holder>),
}

/// A held workspace lease, renewed in the background until released.
pub struct Lease {
    blob: Arc<BlobClient>,
    id: String,
    lost: watch::Receiver<Option<String>>,
    renewer: tokio::task::JoinHandle<()>,
    released: bool,
}

/// What a lease guards: one workspace, or the Databricks account's part of account-mode runs (their
/// principals at the account, shared by every account-mode workspace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Locked {
    /// `locks/_account` (no workspace name starts with `_`).
    Account,
    Workspace(WorkspaceName),
}

impl Locked {
    fn path(&self) -> String {
        match self {
            Locked::Account => "locks/_account".to_owned(),
            Locked::Workspace(name) => format!("locks/{}", name.to_string().to_ascii_lowercase()),
        }
    }
}

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Locked::Account => f.write_str("the Databricks account (account mode)"),
            Locked::Workspace(name) => write!(f, "workspace \"{name}\""),
        }
    }
}

impl StateStore {
    /// Takes the lease of `locked` for `holder`, or says who holds it.
    ///
    /// # Errors
    /// The storage account could not be used (unreachable, a permission missing).
    pub async fn try_lease(&self, locked: &Locked, holder: &Holder) -> Result<Taken, StateError> {
        self.ready().await?;
        let path = locked.path();
        let blob = Arc::new(self.container.blob_client(&path));
        // A lease needs an existing blob: made once, empty, never rewritten.
        let create = BlobClientUploadOptions::default().if_not_exists();
        match blob
            .upload(RequestContent::from(Vec::<u8>::new()), Some(create))
            .await
        {
            Ok(_) => {}
            // It exists (409 BlobAlreadyExists; 412 when it exists under a lease).
            Err(e) if matches!(e.http_status().map(u16::from), Some(409 | 412)) => {}
            Err(e) => return Err(self.error(format!("create {path}"), &e)),
        }
        let id = match blob.acquire_lease(LEASE_SECONDS, None).await {
            Ok(answer) => answer.lease_id().ok().flatten().ok_or_else(|| StateError {
                endpoint: self.endpoint.clone(),
                doing: format!("lease {path}"),
                cause: "the answer carried no lease id".to_owned(),
                hint: "",
                status: None,
                code: None,
            })?,
            Err(e) if code_of(&e).as_deref() == Some("LeaseAlreadyPresent") => {
                return Ok(Taken::Busy(self.holder_of(&blob).await.ok().flatten()));
            }
            Err(e) => return Err(self.error(format!("lease {path}"), &e)),
        };
        let options = BlobClientSetMetadataOptions {
            lease_id: Some(id.clone()),
            ..Default::default()
        };
        if let Err(e) = blob
            .set_metadata(&holder.to_metadata(), Some(options))
            .await
        {
            let _ = blob.release_lease(id, None).await;
            return Err(self.error(format!("name the holder of {path}"), &e));
        }
        let (tx, lost) = watch::channel(None);
        let renewer = tokio::spawn(renew(Arc::clone(&blob), id.clone(), tx));
        Ok(Taken::Held(Lease {
            blob,
            id,
            lost,
            renewer,
            released: false,
        }))
    }

    /// Who holds `locked` now, if anyone.
    ///
    /// # Errors
    /// The storage account could not be read.
    pub async fn holder(&self, locked: &Locked) -> Result<Option<Holder>, StateError> {
        let blob = self.container.blob_client(&locked.path());
        self.holder_of(&blob).await
    }

    async fn holder_of(&self, blob: &BlobClient) -> Result<Option<Holder>, StateError> {
        let properties = match blob.get_properties(None).await {
            Ok(answer) => answer,
            Err(e) if super::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.error("read a workspace's lease", &e)),
        };
        let leased = matches!(properties.lease_state(), Ok(Some(LeaseState::Leased)));
        if !leased {
            return Ok(None);
        }
        Ok(properties
            .metadata()
            .ok()
            .and_then(|m| Holder::from_metadata(&m)))
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The lease id is not a secret, but it is what lets a caller write: not shown.
        f.debug_struct("Lease").finish_non_exhaustive()
    }
}

impl Lease {
    /// Changes to `Some(reason)` when the lease could not be kept (renewals failed for its lifetime,
    /// or the storage says it is no longer ours): whoever works under it must stop.
    pub fn lost(&self) -> watch::Receiver<Option<String>> {
        self.lost.clone()
    }

    /// Gives the workspace back now (otherwise it is free when the lease expires). The holder's name is
    /// cleared first, so that the next holder is never named after this one.
    pub async fn release(mut self) {
        self.renewer.abort();
        self.released = true;
        unname_and_release(&self.blob, &self.id).await;
    }
}

/// Clears the holder's name (under the lease) and releases the lease; a failure is logged: the lease
/// then expires within [`LEASE_SECONDS`].
async fn unname_and_release(blob: &BlobClient, id: &str) {
    let options = BlobClientSetMetadataOptions {
        lease_id: Some(id.to_owned()),
        ..Default::default()
    };
    let _ = blob.set_metadata(&HashMap::new(), Some(options)).await;
    if let Err(e) = blob.release_lease(id.to_owned(), None).await {
        tracing::warn!(
            "a workspace lease was not released ({}); it expires within {LEASE_SECONDS} s",
            StateError::from_sdk("", "", &e).cause
        );
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.released {
            return;
        }
        // Dropped without `release` (a panic, a cancelled run): give it back in the background.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let blob = Arc::clone(&self.blob);
            let id = self.id.clone();
            runtime.spawn(async move { unname_and_release(&blob, &id).await });
        }
    }
}

/// Renews the lease every [`RENEW_EVERY`] until aborted; says it is lost when the storage answers that
/// it is not ours, or when no renewal has succeeded for the lease's lifetime.
async fn renew(blob: Arc<BlobClient>, id: String, lost: watch::Sender<Option<String>>) {
    let lifetime = std::time::Duration::from_secs(LEASE_SECONDS.unsigned_abs().into());
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match blob.renew_lease(id.clone(), None).await {
            Ok(_) => renewed = Instant::now(),
            Err(e) => {
                let status = e.http_status().map(u16::from);
                let ours_no_more = matches!(status, Some(409 | 412));
                if ours_no_more || renewed.elapsed() >= lifetime {
                    let cause = StateError::from_sdk("", "", &e).cause;
                    let _ = lost.send(Some(format!(
                        "the workspace's lease could not be renewed ({cause}); another instance may take it"
                    )));
                    return;
                }
                tracing::warn!(
                    "a workspace lease renewal failed ({}); trying again",
                    StateError::from_sdk("", "", &e).cause
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_goes_through_metadata_and_back() {
        let holder = Holder {
            run_id: "6f1c".to_owned(),
            trigger: "timer".to_owned(),
            started_at: "2026-12-06T14:00:00Z".to_owned(),
            instance: "host-1 (pid 7)".to_owned(),
        };
        let mut metadata = holder.to_metadata();
        assert_eq!(Holder::from_metadata(&metadata), Some(holder));
        // Storage may give names back in another case.
        let upper: HashMap<String, String> = metadata
            .drain()
            .map(|(k, v)| (k.to_uppercase(), v))
            .collect();
        assert_eq!(
            Holder::from_metadata(&upper).map(|h| h.run_id),
            Some("6f1c".to_owned())
        );
        assert_eq!(Holder::from_metadata(&HashMap::new()), None);
    }

    #[test]
    fn metadata_values_stay_printable_ascii() {
        assert_eq!(header_safe("wörk\nspace"), "w?rk?space");
    }
}
