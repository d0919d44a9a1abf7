//! The demo's app folder: the repository's `host.json` and function folders, the `handler` binary and
//! the generated `sync-config.json`, in a temporary folder the local host runs; and the one call the
//! demo makes to it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root (this crate lives in `<root>/sandbox`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// App settings of the demo, on top of the emulated world's environment.
pub const SETTINGS: &[(&str, &str)] = &[
    ("FUNCTIONS_WORKER_RUNTIME", "custom"),
    ("SYNC_SCHEDULE", "0 */5 * * * *"),
    ("SUBSCRIPTION_SCHEDULE", "0 */15 * * * *"),
    ("SYNC_CONFIG_PATH", "sync-config.json"),
    ("RUST_LOG", "info"),
];

/// Builds `handler` with the profile this program was built with, and returns its path.
///
/// # Errors
/// Cargo failed or the binary is not where the build put it.
pub fn build_handler() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .ok_or("the sandbox binary has no folder")?
        .to_path_buf();
    let release = dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("Building the handler (the first build takes a few minutes)...");
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--bin", "handler", "--manifest-path"])
        .arg(repo_root().join("Cargo.toml"));
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    let handler = dir.join("handler");
    if handler.is_file() {
        Ok(handler)
    } else {
        Err(format!("no handler at {}", handler.display()))
    }
}

/// The app's functions: one folder with its `function.json` each, in the repository and the zip.
pub const FUNCTIONS: [&str; 5] = [
    "SyncTimer",
    "SyncHttp",
    "SyncQueue",
    "SyncNotify",
    "SyncSubscriptions",
];

/// A temporary app folder laid out like the deployment zip.
///
/// # Errors
/// A file could not be copied or written.
pub fn stage(handler: &Path, config: &Value) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("entra-databricks-sync-demo-")
        .tempdir()?;
    let root = repo_root();
    std::fs::copy(root.join("host.json"), dir.path().join("host.json"))?;
    for function in FUNCTIONS {
        std::fs::create_dir_all(dir.path().join(function))?;
        std::fs::copy(
            root.join(function).join("function.json"),
            dir.path().join(function).join("function.json"),
        )?;
    }
    std::fs::copy(handler, dir.path().join("handler"))?;
    let pretty = serde_json::to_string_pretty(config).map_err(std::io::Error::other)?;
    std::fs::write(dir.path().join("sync-config.json"), pretty + "\n")?;
    Ok(dir)
}

/// `POST /api/SyncHttp` with no body: every workspace, for real. Returns the status and the report.
///
/// # Errors
/// The host could not be reached or did not answer JSON.
pub async fn sync_now(url: &str) -> Result<(u16, Value), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(format!("{url}/api/SyncHttp"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&body)
        .map(|report| (status, report))
        .map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))
}
