//! The state every instance of the app shares, in its own storage account (the identity-based
//! `AzureWebJobsStorage`; `settings::SharedStorage`), through Azure Storage's own primitives and the
//! official `azure_storage_blob` crate, with the app's identity (no keys):
//!
//! - one blob lease per workspace (`locks/<workspace>`, [`StateStore::try_lease`]): whoever holds it
//!   syncs that workspace, whatever started the run and on whichever instance; the holder is named in
//!   the blob's metadata (run id, trigger, start, instance) for the 409 of another caller. A lease lasts
//!   [`LEASE_SECONDS`] and is renewed every [`RENEW_EVERY`] while the sync runs (`lease.rs`), so a
//!   killed instance's lease ends within [`LEASE_SECONDS`] (Azure may keep an expired, unreleased lease
//!   up to a minute more: docs/operations.md);
//! - the last reports (`reports/last-run.json`, `reports/last-<trigger>.json`,
//!   `reports/workspaces/<workspace>.json`, [`StateStore::record`]), which `GET /api/SyncHttp` reads
//!   so it shows every instance's runs after any scale-in.
//!
//! Names are lower case (workspace names are case-insensitive and limited to `[A-Za-z0-9._-]`).

mod lease;
pub mod work;

pub use lease::{Holder, Lease, Locked, Taken};

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, RequestContent, StatusCode};
use azure_storage_blob::models::{BlobClientUploadOptions, StorageErrorCode};
use azure_storage_blob::{BlobContainerClient, BlobServiceClient, BlobServiceClientOptions};
use serde::Serialize;
use tokio::sync::OnceCell;
use url::Url;

use crate::config::WorkspaceName;
use crate::sync::{Report, WorkspaceReport};

/// The container of the app's shared state.
pub const CONTAINER: &str = "entra-databricks-sync";
/// How long a workspace's lease lasts without renewal (Azure allows 15 to 60 s).
pub const LEASE_SECONDS: i32 = 30;
/// How often a held lease is renewed: three tries within its lifetime.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Something the storage account did not do, in words (never a token or key).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the app's storage account ({endpoint}) could not {doing}: {cause}{hint}")]
pub struct StateError {
    pub endpoint: String,
    pub doing: String,
    pub cause: String,
    /// What to grant, for a 403.
    pub hint: &'static str,
    pub status: Option<u16>,
    pub code: Option<String>,
}

const FORBIDDEN_HINT: &str = " (grant the app's identity \"Storage Blob Data Contributor\" or \
                              \"Storage Blob Data Owner\" on the storage account for its blobs, and \
                              \"Storage Queue Data Contributor\" on the queue entra-sync-work; infra/ does)";

/// The app's shared state. Cheap to share (`Arc`); one per process.
pub struct StateStore {
    container: BlobContainerClient,
    /// The work queue (`work::DEFAULT_QUEUE`), for [`StateStore::enqueue`].
    queue: azure_storage_queue::QueueClient,
    queue_ready: OnceCell<()>,
    endpoint: String,
    /// Who this process is, in holders' names (`WEBSITE_INSTANCE_ID`, else host name and process id).
    instance: String,
    ready: OnceCell<()>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// The store at `blob_endpoint` (`https://<account>.blob.core.windows.net`), reached with
    /// `credential`.
    ///
    /// # Errors
    /// The endpoint is not one the client accepts (not https).
    pub fn new(
        blob_endpoint: &Url,
        queue_endpoint: &Url,
        credential: Arc<dyn TokenCredential>,
        instance: String,
    ) -> Result<Arc<StateStore>, StateError> {
        let endpoint = blob_endpoint.as_str().trim_end_matches('/').to_owned();
        let options = BlobServiceClientOptions {
            client_options: client_options(),
            ..Default::default()
        };
        let service = BlobServiceClient::new(
            blob_endpoint.clone(),
            Some(Arc::clone(&credential)),
            Some(options),
        )
        .map_err(|e| StateError::from_sdk(&endpoint, "be used", &e))?;
        let queue_url = queue_endpoint
            .join(work::DEFAULT_QUEUE)
            .map_err(|e| StateError {
                endpoint: queue_endpoint.to_string(),
                doing: "be used".into(),
                cause: e.to_string(),
                hint: "",
                status: None,
                code: None,
            })?;
        let queue_options = azure_storage_queue::QueueClientOptions {
            client_options: client_options(),
            ..Default::default()
        };
        let queue =
            azure_storage_queue::QueueClient::new(queue_url, Some(credential), Some(queue_options))
                .map_err(|e| StateError::from_sdk(queue_endpoint.as_str(), "be used", &e))?;
        Ok(Arc::new(StateStore {
            container: service.blob_container_client(CONTAINER),
            queue,
            queue_ready: OnceCell::new(),
            endpoint,
            instance,
            ready: OnceCell::new(),
        }))
    }

    /// This process's name in holders.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The blob service's URL, for messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn error(&self, doing: impl Into<String>, e: &azure_core::Error) -> StateError {
        StateError::from_sdk(&self.endpoint, &doing.into(), e)
    }

    /// Creates the container once per process (an existing one is fine).
    async fn ready(&self) -> Result<(), StateError> {
        self.ready
            .get_or_try_init(|| async {
                match self.container.create(None).await {
                    Ok(_) => Ok(()),
                    Err(e) if code_of(&e).as_deref() == Some("ContainerAlreadyExists") => Ok(()),
                    Err(e) => Err(self.error(format!("create the container \"{CONTAINER}\""), &e)),
                }
            })
            .await
            .map(|_| ())
    }

    /// Writes `value` as JSON at `path` (replacing what was there).
    pub(crate) async fn write_json(
        &self,
        path: &str,
        value: &impl Serialize,
    ) -> Result<(), StateError> {
        self.ready().await?;
        let body = serde_json::to_vec(value).map_err(|e| StateError {
            endpoint: self.endpoint.clone(),
            doing: format!("be written ({path})"),
            cause: e.to_string(),
            hint: "",
            status: None,
            code: None,
        })?;
        let options = BlobClientUploadOptions {
            blob_content_type: Some("application/json".to_owned()),
            ..Default::default()
        };
        self.container
            .blob_client(path)
            .upload(RequestContent::from(body), Some(options))
            .await
            .map(drop)
            .map_err(|e| self.error(format!("write {path}"), &e))
    }

    /// The JSON at `path`, or `None` if there is none.
    pub async fn read_json(&self, path: &str) -> Result<Option<serde_json::Value>, StateError> {
        let answer = match self.container.blob_client(path).download(None).await {
            Ok(answer) => answer,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.error(format!("read {path}"), &e)),
        };
        let bytes =
            (answer.body.collect().await).map_err(|e| self.error(format!("read {path}"), &e))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError {
                endpoint: self.endpoint.clone(),
                doing: format!("read {path}"),
                cause: format!("it is not JSON: {e}"),
                hint: "",
                status: None,
                code: None,
            })
    }

    /// Keeps `report` as the last run (of any trigger and of its trigger) and, for each of its
    /// workspaces, that workspace's last report.
    ///
    /// # Errors
    /// The first write that failed (the others are still tried).
    pub async fn record(&self, report: &Report) -> Result<(), StateError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Last<'a> {
            run_id: uuid::Uuid,
            trigger: crate::sync::Trigger,
            #[serde(with = "time::serde::rfc3339")]
            started_at: time::OffsetDateTime,
            dry_run: bool,
            report: &'a WorkspaceReport,
        }
        let trigger = report.trigger.to_string();
        let mut first_error = None;
        let writes = [
            self.write_json("reports/last-run.json", report).await,
            self.write_json(&format!("reports/last-{trigger}.json"), report)
                .await,
        ];
        for result in writes {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        let per_workspace = report.workspaces.iter().map(|w| async move {
            let last = Last {
                run_id: report.run_id,
                trigger: report.trigger,
                started_at: report.started_at,
                dry_run: report.dry_run,
                report: w,
            };
            self.write_json(&workspace_report_path(&w.name), &last)
                .await
        });
        for result in futures::future::join_all(per_workspace).await {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl StateStore {
    /// Puts `message` on the work queue (made if missing). With `coalesce`, only when no message for
    /// that workspace is waiting yet (`pending/<workspace>`, cleared by `SyncQueue` when it starts):
    /// a burst of notifications for one workspace makes one sync, and a change after that sync began
    /// makes the next. A marker older than [`PENDING_STALE`] (its message lost) does not hold.
    /// Returns whether a message was sent.
    ///
    /// # Errors
    /// The storage account could not be used.
    pub async fn enqueue(
        &self,
        message: &work::WorkMessage,
        coalesce: bool,
    ) -> Result<bool, StateError> {
        if coalesce && !self.mark_pending(&message.workspace).await? {
            return Ok(false);
        }
        let doing = format!("queue a sync of workspace \"{}\"", message.workspace);
        let send = || async {
            let body = azure_storage_queue::models::QueueMessage {
                message_text: Some(message.encoded()),
            };
            let content = body.try_into()?;
            self.queue.send_message(content, None).await.map(drop)
        };
        match send().await {
            Ok(()) => Ok(true),
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => {
                self.queue_ready
                    .get_or_try_init(|| async {
                        match self.queue.create(None).await {
                            Ok(_) => Ok(()),
                            Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
                            Err(e) => {
                                Err(self
                                    .error(format!("create the queue {}", work::DEFAULT_QUEUE), &e))
                            }
                        }
                    })
                    .await?;
                send()
                    .await
                    .map(|()| true)
                    .map_err(|e| self.error(doing, &e))
            }
            Err(e) => Err(self.error(doing, &e)),
        }
    }

    /// Marks `workspace` as having a message waiting; false if one already does (and is not stale).
    async fn mark_pending(&self, workspace: &str) -> Result<bool, StateError> {
        self.ready().await?;
        let path = pending_path(workspace);
        let blob = self.container.blob_client(&path);
        let create = BlobClientUploadOptions::default().if_not_exists();
        match blob
            .upload(RequestContent::from(Vec::<u8>::new()), Some(create))
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if e.http_status() == Some(StatusCode::Conflict) => {}
            Err(e) => return Err(self.error(format!("write {path}"), &e)),
        }
        use azure_storage_blob::models::BlobClientGetPropertiesResultHeaders as _;
        let properties = match blob.get_properties(None).await {
            Ok(p) => p,
            // Cleared in between: try once more.
            Err(e) if is_not_found(&e) => {
                let create = BlobClientUploadOptions::default().if_not_exists();
                return match blob
                    .upload(RequestContent::from(Vec::<u8>::new()), Some(create))
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(false),
                    Err(e) => Err(self.error(format!("write {path}"), &e)),
                };
            }
            Err(e) => return Err(self.error(format!("read {path}"), &e)),
        };
        let stale = match properties.last_modified() {
            Ok(Some(at)) => time::OffsetDateTime::now_utc() - at > PENDING_STALE,
            _ => false,
        };
        if !stale {
            return Ok(false);
        }
        // Stale: take it over, only if nobody did in between (the ETag).
        let options = BlobClientUploadOptions {
            if_match: properties.etag().ok().flatten(),
            ..Default::default()
        };
        match blob
            .upload(RequestContent::from(Vec::<u8>::new()), Some(options))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.http_status() == Some(StatusCode::PreconditionFailed) => Ok(false),
            Err(e) => Err(self.error(format!("write {path}"), &e)),
        }
    }

    /// Says that `workspace`'s waiting message is being handled: a notification from now on queues
    /// a new one.
    ///
    /// # Errors
    /// The storage account could not be used.
    pub async fn clear_pending(&self, workspace: &str) -> Result<(), StateError> {
        let path = pending_path(workspace);
        match self.container.blob_client(&path).delete(None).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.error(format!("delete {path}"), &e)),
        }
    }
}

/// After this long a workspace's pending marker no longer holds back a new message (its message may
/// have been lost; `SyncQueue` clears it within seconds normally).
pub const PENDING_STALE: time::Duration = time::Duration::minutes(10);

fn pending_path(workspace: &str) -> String {
    format!("pending/{}", workspace.to_ascii_lowercase())
}

/// The triggers whose last runs are kept apart (`reports/last-<trigger>.json`).
const TRIGGERS: [&str; 4] = ["timer", "http", "queue", "cli"];

impl StateStore {
    /// What every instance has recorded: the last run, the last run of each trigger, each of
    /// `workspaces`' last report and who holds each now (as `GET /api/SyncHttp` shows it).
    ///
    /// # Errors
    /// The first read that failed.
    pub async fn overview(
        &self,
        workspaces: &[WorkspaceName],
    ) -> Result<serde_json::Value, StateError> {
        let last = self.read_json("reports/last-run.json");
        let by_trigger = futures::future::try_join_all(TRIGGERS.map(|t| async move {
            Ok::<_, StateError>((t, self.read_json(&format!("reports/last-{t}.json")).await?))
        }));
        let per_workspace = futures::future::try_join_all(workspaces.iter().map(|w| async move {
            let last = self.read_json(&workspace_report_path(w)).await?;
            let holder = self.holder(&Locked::Workspace(w.clone())).await?;
            Ok::<_, StateError>((w.to_string(), last, holder))
        }));
        let account = self.holder(&Locked::Account);
        let (last, by_trigger, per_workspace, account) =
            futures::try_join!(last, by_trigger, per_workspace, account)?;
        let mut last_by_trigger = serde_json::Map::new();
        for (trigger, report) in by_trigger {
            if let Some(report) = report {
                last_by_trigger.insert(trigger.to_owned(), report);
            }
        }
        let mut last_by_workspace = serde_json::Map::new();
        let mut held = serde_json::Map::new();
        for (name, report, holder) in per_workspace {
            if let Some(holder) = holder {
                held.insert(name.clone(), serde_json::json!(holder));
            }
            last_by_workspace.insert(name, report.unwrap_or(serde_json::Value::Null));
        }
        if let Some(holder) = account {
            // Not a workspace name (none starts with `_`): the account's part of account-mode runs.
            held.insert("_account".to_owned(), serde_json::json!(holder));
        }
        Ok(serde_json::json!({
            "lastReport": last,
            "lastReportByTrigger": last_by_trigger,
            "workspaces": last_by_workspace,
            "held": held,
        }))
    }
}

/// Where a workspace's last report is kept.
pub fn workspace_report_path(workspace: &WorkspaceName) -> String {
    format!(
        "reports/workspaces/{}.json",
        workspace.to_string().to_ascii_lowercase()
    )
}

fn client_options() -> ClientOptions {
    ClientOptions {
        retry: crate::auth::bounded_retry(),
        ..Default::default()
    }
}

/// The storage error code of an SDK error (`LeaseAlreadyPresent`, ...), if the answer had one.
fn code_of(e: &azure_core::Error) -> Option<String> {
    match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.clone(),
        _ => None,
    }
}

fn is_not_found(e: &azure_core::Error) -> bool {
    e.http_status() == Some(StatusCode::NotFound)
}

impl StateError {
    fn from_sdk(endpoint: &str, doing: &str, e: &azure_core::Error) -> StateError {
        let status = e.http_status().map(u16::from);
        let code = code_of(e);
        let cause = match (&status, &code) {
            (Some(status), Some(code)) => format!("HTTP {status} {code}"),
            (Some(status), None) => format!("HTTP {status}"),
            _ => crate::auth::causes(e),
        };
        StateError {
            endpoint: endpoint.to_owned(),
            doing: doing.to_owned(),
            cause,
            hint: if status == Some(403) {
                FORBIDDEN_HINT
            } else {
                ""
            },
            status,
            code,
        }
    }

    /// Whether the storage answered that the blob is leased by someone else.
    pub fn is_code(&self, code: StorageErrorCode) -> bool {
        self.code.as_deref() == Some(code.as_ref())
    }
}
