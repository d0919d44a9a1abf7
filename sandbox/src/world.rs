//! A whole outside world on one machine: an Entra ID tenant (Graph), one Key Vault, the managed-identity
//! endpoint, any number of Databricks workspaces and, when added, the Databricks account
//! (`accounts.azuredatabricks.net`, [`World::add_account`]), each at its real host name over TLS behind one
//! CONNECT proxy. [`World::handler_env`] is the environment under which the real, unmodified `handler`
//! reaches them: `HTTPS_PROXY`, `NO_PROXY`, `SSL_CERT_FILE` (system roots + the throw-away CA),
//! `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, and once [`World::add_storage`] has started Azurite, the
//! identity-based `AzureWebJobsStorage__accountName` of its account, whose blob and queue host names
//! the proxy routes to it. Hosts without an emulator get a 502 from the proxy, so nothing ever
//! reaches the real internet.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use crate::account::{ACCOUNTS_HOST, Account};
use crate::azurite::{self, Azurite};
use crate::graph::Tenant;
use crate::identity::IdentityEndpoint;
use crate::keyvault::KeyVault;
use crate::proxy::ConnectProxy;
use crate::scim::ScimWorkspace;
use crate::tls::{Authority, serve_plain, serve_tls};

/// The vault holding every workspace token.
pub const VAULT_NAME: &str = "kv-dbx-sync";
const GRAPH_HOST: &str = "graph.microsoft.com";

/// One emulated Databricks workspace.
#[derive(Clone)]
pub struct Workspace {
    pub name: String,
    /// `https://adb-<id>.<n>.azuredatabricks.net`
    pub url: String,
    pub scim: ScimWorkspace,
    /// The workspace-admin PAT (distinctive, so tests can search outputs for it).
    pub pat: String,
    /// The Key Vault secret URL holding the PAT.
    pub secret_url: String,
}

impl Workspace {
    /// The workspace id: the number after `adb-` in its host name (0 if the URL has none).
    pub fn workspace_id(&self) -> u64 {
        (self.url.strip_prefix("https://adb-"))
            .and_then(|rest| rest.split('.').next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_default()
    }
}

/// The running world. Dropping it stops accepting connections.
pub struct World {
    pub tenant: Tenant,
    pub vault: KeyVault,
    pub identity: IdentityEndpoint,
    authority: Authority,
    proxy: ConnectProxy,
    identity_url: String,
    identity_header: String,
    bundle: PathBuf,
    _dir: tempfile::TempDir,
    workspaces: Mutex<Vec<Workspace>>,
    storage: tokio::sync::Mutex<Option<Azurite>>,
    storage_account: Mutex<Option<String>>,
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A client that reaches https hosts through the world's proxy and trusts its CA.
fn outbound_client(proxy: &str, authority: &Authority) -> std::io::Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(authority.ca_pem().as_bytes()).map_err(io_error)?;
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(proxy).map_err(io_error)?)
        .add_root_certificate(ca)
        .build()
        .map_err(io_error)
}

/// Forwards one request to `http://{host}` (path, query, method, content type and body), and its
/// answer back; 502 when the host does not answer.
async fn forward(
    client: &reqwest::Client,
    host: SocketAddr,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let target = format!(
        "http://{host}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let mut outgoing = client.request(parts.method.clone(), target).body(body);
    if let Some(kind) = parts.headers.get(axum::http::header::CONTENT_TYPE) {
        outgoing = outgoing.header(axum::http::header::CONTENT_TYPE, kind.clone());
    }
    match outgoing.send().await {
        Ok(answer) => {
            let status = answer.status();
            let kind = answer
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(kind) = kind {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, kind);
            }
            response
        }
        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

impl World {
    /// Starts Graph, Key Vault, the identity endpoint and the proxy (no workspace yet).
    ///
    /// # Errors
    /// A listener could not be bound or the certificates could not be made.
    pub async fn start() -> std::io::Result<World> {
        let dir = tempfile::tempdir()?;
        let authority = Authority::new().map_err(io_error)?;
        let bundle = dir.path().join("ca-bundle.pem");
        authority.write_bundle(&bundle).map_err(io_error)?;

        let tenant = Tenant::new();
        tenant.set_public_base(&format!("https://{GRAPH_HOST}"));
        let vault = KeyVault::new(VAULT_NAME);
        // Random through and through (as on App Service), so a search for any piece of it in the
        // handler's output cannot hit the header's name.
        let identity_header = uuid::Uuid::new_v4().simple().to_string();
        let identity = IdentityEndpoint::new(&identity_header);

        let graph_addr = serve_tls(
            tenant.router(),
            authority.server_config(&[GRAPH_HOST]).map_err(io_error)?,
        )
        .await?;
        let vault_host = format!("{VAULT_NAME}.vault.azure.net");
        let vault_addr = serve_tls(
            vault.router(),
            authority.server_config(&[&vault_host]).map_err(io_error)?,
        )
        .await?;
        let identity_addr = serve_plain(identity.router()).await?;
        let routes: HashMap<String, SocketAddr> = [
            (format!("{GRAPH_HOST}:443"), graph_addr),
            (format!("{vault_host}:443"), vault_addr),
        ]
        .into();
        let proxy = ConnectProxy::start(routes).await?;
        // Graph's deliveries (change notifications) reach their https URLs the way the handler reaches
        // Azure: through the proxy, trusting the world's CA.
        tenant.set_outbound_client(outbound_client(&proxy.url(), &authority)?);
        Ok(World {
            tenant,
            vault,
            identity,
            authority,
            proxy,
            identity_url: format!("http://{identity_addr}/msi/token"),
            identity_header,
            bundle,
            _dir: dir,
            workspaces: Mutex::new(Vec::new()),
            storage: tokio::sync::Mutex::new(None),
            storage_account: Mutex::new(None),
        })
    }

    /// Adds a workspace with its own host, SCIM emulator and PAT (stored in the vault as `<name>-pat`).
    ///
    /// # Errors
    /// Its listener could not be bound.
    pub async fn add_workspace(&self, name: &str) -> std::io::Result<Workspace> {
        let index = self
            .workspaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            + 1;
        let host = format!(
            "adb-{:016}.{}.azuredatabricks.net",
            6_234_138_917_436_195u64 + index as u64,
            index + 10
        );
        let pat = format!("dapi{}", uuid::Uuid::new_v4().simple());
        let scim = ScimWorkspace::new(&pat);
        let addr = serve_tls(
            scim.router(),
            self.authority.server_config(&[&host]).map_err(io_error)?,
        )
        .await?;
        self.proxy.add_route(&format!("{host}:443"), addr);
        let secret = format!("{name}-pat");
        self.vault.set_secret(&secret, &pat);
        let workspace = Workspace {
            name: name.to_owned(),
            url: format!("https://{host}"),
            scim,
            pat,
            secret_url: format!("{}/secrets/{secret}", self.vault.vault_url()),
        };
        self.workspaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(workspace.clone());
        Ok(workspace)
    }

    /// Adds the Databricks account `account_id` at `https://accounts.azuredatabricks.net` (one account
    /// per world: a second call serves the new one there instead). Register workspaces with
    /// [`Account::add_workspace`] and [`Workspace::workspace_id`].
    ///
    /// # Errors
    /// The certificate or the listener could not be made.
    pub async fn add_account(&self, account_id: &str) -> std::io::Result<Account> {
        let account = Account::new(account_id);
        self.serve_host(ACCOUNTS_HOST, account.router()).await?;
        Ok(account)
    }

    /// Serves `router` over TLS at `https://{host}` (a leaf from the world's CA) and routes `{host}:443`
    /// to it through the proxy: for servers that are not emulators of this crate (a peer's front).
    ///
    /// # Errors
    /// The certificate or the listener could not be made.
    pub async fn serve_host(
        &self,
        host: &str,
        router: axum::Router,
    ) -> std::io::Result<SocketAddr> {
        let addr = serve_tls(
            router,
            self.authority.server_config(&[host]).map_err(io_error)?,
        )
        .await?;
        self.proxy.add_route(&format!("{host}:443"), addr);
        Ok(addr)
    }

    /// Serves the function app at `https://<name>.azurewebsites.net` (TLS, a leaf of the world's CA,
    /// through the proxy) by forwarding every request to the local Functions host at `host`: the
    /// public URL Microsoft Graph delivers change notifications to. Returns that URL.
    ///
    /// # Errors
    /// The certificate or the listener could not be made.
    pub async fn expose_app(&self, name: &str, host: SocketAddr) -> std::io::Result<String> {
        let public = format!("{name}.azurewebsites.net");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(io_error)?;
        let forward = move |request: axum::extract::Request| {
            let client = client.clone();
            async move { forward(&client, host, request).await }
        };
        self.serve_host(&public, axum::Router::new().fallback(forward))
            .await?;
        Ok(format!("https://{public}"))
    }

    /// Starts Azure Storage (Azurite, TLS and Entra tokens only) for the app's storage account,
    /// `devstoreaccount1` at `https://devstoreaccount1.blob.core.windows.net` and `.queue.`; from now
    /// on [`World::handler_env`] names it as the identity-based `AzureWebJobsStorage`. Once per world
    /// (a second call does nothing).
    ///
    /// # Errors
    /// Azurite could not be installed or started, or its certificate made.
    pub async fn add_storage(&self) -> std::io::Result<()> {
        let mut storage = self.storage.lock().await;
        if storage.is_some() {
            return Ok(());
        }
        let started = Azurite::start(&self.authority).await?;
        self.proxy.add_route(
            &format!("{}:443", azurite::blob_host(azurite::ACCOUNT)),
            started.blob,
        );
        self.proxy.add_route(
            &format!("{}:443", azurite::queue_host(azurite::ACCOUNT)),
            started.queue,
        );
        *storage = Some(started);
        *self
            .storage_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(azurite::ACCOUNT.to_owned());
        Ok(())
    }

    /// Stops the storage started by [`World::add_storage`] (its state is lost; the proxy then
    /// answers 502 for its host names, as for a storage outage).
    pub async fn stop_storage(&self) {
        if let Some(azurite) = self.storage.lock().await.take() {
            azurite.stop().await;
        }
    }

    /// A client of the storage account's queue `name` (after [`World::add_storage`]), as the app's
    /// identity reaches it: for tests that put work on a queue or read its poison queue.
    ///
    /// # Errors
    /// No storage was added, or the client could not be made.
    pub fn queue(&self, name: &str) -> Result<azure_storage_queue::QueueClient, String> {
        let account = (self.storage_account.lock())
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or("no storage: call World::add_storage first")?;
        let env = self.handler_env();
        let setting = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let service = url::Url::parse(&format!("https://{}/", azurite::queue_host(&account)))
            .map_err(|e| e.to_string())?;
        crate::host::queue_client(&setting, &service, name)
    }

    /// The environment under which the real `handler` reaches this world (and nothing else).
    pub fn handler_env(&self) -> Vec<(String, String)> {
        let storage = self
            .storage_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map(|account| ("AzureWebJobsStorage__accountName", account));
        [
            ("HTTPS_PROXY", self.proxy.url()),
            ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
            ("SSL_CERT_FILE", self.bundle.display().to_string()),
            ("IDENTITY_ENDPOINT", self.identity_url.clone()),
            ("IDENTITY_HEADER", self.identity_header.clone()),
            ("GRAPH_ENDPOINT", format!("https://{GRAPH_HOST}")),
        ]
        .into_iter()
        .chain(storage)
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Variables of the parent environment that would change where the handler connects or whom it
    /// trusts; remove them before applying [`World::handler_env`].
    pub const ENV_TO_CLEAR: &'static [&'static str] = &[
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "ALL_PROXY",
        "all_proxy",
        "no_proxy",
        "SSL_CERT_DIR",
        "AZURE_CLIENT_ID",
        "AzureWebJobsStorage",
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
    ];

    /// Secret values the handler must never print: every PAT, the identity header and every access
    /// token the identity endpoint has issued so far.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self
            .workspaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|w| w.pat.clone())
            .collect();
        secrets.push(self.identity_header.clone());
        secrets.extend(self.identity.access_tokens());
        secrets
    }

    /// The configuration entry for `workspace` with these groups (the seed's keys).
    pub fn config_entry(workspace: &Workspace, groups: &[&str]) -> Value {
        json!({
            "name": workspace.name,
            "databricksInstance": workspace.url,
            "accessGroups": groups,
            "scimToken": workspace.secret_url,
        })
    }

    /// The CONNECT targets asked of the proxy so far.
    pub fn connects(&self) -> Vec<String> {
        self.proxy.connects()
    }
}
