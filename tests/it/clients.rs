//! The library's SCIM and Graph clients, in-process, against the sandbox emulators reached the way
//! production reaches the real services: through the world's CONNECT proxy (`HTTPS_PROXY`), trusting its
//! CA bundle (`SSL_CERT_FILE`), at the real host names. The emulators' request logs show what was sent.
//! Groups in [`groups`], users, service principals and `/Me` in [`principals`], the account's SCIM in
//! [`account`] and its workspace assignments in [`assignments`], Graph in [`graph`];
//! the shared set-up is here.

mod account;
mod assignments;
mod graph;
mod groups;
mod principals;

use std::collections::HashMap;
use std::time::Duration;

use axum::http::Method;
use entra_databricks_sync::config::WorkspaceUrl;
use entra_databricks_sync::databricks::{Bearer, Scim};
use entra_databricks_sync::http::Requests;
use sandbox::world::{Workspace, World};
use secrecy::SecretString;

/// A client configured by hand from the world's environment: only its proxy, only its CA bundle.
fn client(world: &World) -> reqwest::Client {
    let env: HashMap<String, String> = world.handler_env().into_iter().collect();
    let bundle = std::fs::read(&env["SSL_CERT_FILE"]).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::https(&env["HTTPS_PROXY"]).unwrap())
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&bundle).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A world with one workspace and a SCIM client holding its PAT.
struct Setup {
    /// Kept alive: dropping the world stops its servers.
    _world: World,
    ws: Workspace,
    scim: Scim,
    requests: Requests,
}

async fn setup() -> Setup {
    let world = World::start().await.unwrap();
    let ws = world.add_workspace("clients").await.unwrap();
    let scim = Scim::new(
        client(&world),
        &WorkspaceUrl::parse(&ws.url).unwrap(),
        Bearer::Pat(SecretString::from(ws.pat.clone())),
        1000.0,
    );
    Setup {
        _world: world,
        ws,
        scim,
        requests: Requests::default(),
    }
}

/// Statuses the workspace answered to `method` on paths containing `fragment`, in order.
fn statuses(ws: &Workspace, method: &Method, fragment: &str) -> Vec<u16> {
    ws.scim
        .faults()
        .log()
        .into_iter()
        .filter(|r| r.method == *method && r.path.contains(fragment))
        .map(|r| r.status)
        .collect()
}

fn names(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}
