//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`, pinned in `tools/azurite/`), run as a
//! child process for the blob and queue services the handler keeps its shared state in.
//!
//! It runs the way production storage is reached, not the emulator's shortcuts: HTTPS with a leaf of
//! the world's CA for the product-style host names (`<account>.blob.core.windows.net`, which Azurite
//! reads the account from), and `--oauth basic`, so a request without an Entra bearer token is refused
//! and a token must be for `https://storage.azure.com`, from an `https://sts.windows.net/` issuer and
//! in its lifetime (the identity emulator issues such JWTs; Azurite does not check signatures). No
//! account key or connection string is involved, as in Azure with identity-based connections.
//! State is in memory: each start is an empty account `devstoreaccount1`.
//!
//! Azurite is found at `$AZURITE` (a path to its `azurite` command) or installed by
//! `scripts/install-azurite.sh` (once per machine and pinned file set; serialised across processes by
//! a lock file), so `cargo test` works on a fresh clone that has Node and npm.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::tls::Authority;

/// The account Azurite serves by default (its documented well-known development account).
pub const ACCOUNT: &str = "devstoreaccount1";
/// How long Azurite may take to listen (Node starts in about a second; a loaded CI machine is slower).
const START_LIMIT: Duration = Duration::from_secs(60);

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A running Azurite. Dropping it kills the process (its state is in memory: gone with it).
pub struct Azurite {
    child: Child,
    /// Where the blob service listens (TLS; product-style host names).
    pub blob: SocketAddr,
    /// Where the queue service listens.
    pub queue: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Azurite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azurite")
            .field("blob", &self.blob)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// The blob service's host name of `account`, as in Azure.
pub fn blob_host(account: &str) -> String {
    format!("{account}.blob.core.windows.net")
}

/// The queue service's host name of `account`, as in Azure.
pub fn queue_host(account: &str) -> String {
    format!("{account}.queue.core.windows.net")
}

impl Azurite {
    /// Starts Azurite on free loopback ports, serving TLS with a leaf of `authority` for
    /// `devstoreaccount1`'s blob and queue host names.
    ///
    /// # Errors
    /// Azurite cannot be found or installed, or did not listen within a minute (its output is in the
    /// error).
    pub async fn start(authority: &Authority) -> std::io::Result<Azurite> {
        let program = program()?;
        let dir = tempfile::tempdir()?;
        let (chain, key) = authority
            .leaf_pem(&[&blob_host(ACCOUNT), &queue_host(ACCOUNT), "127.0.0.1"])
            .map_err(io_error)?;
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, chain)?;
        std::fs::write(&key_path, key)?;
        let mut child = Command::new(&program)
            .args(["--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1"])
            .args(["--tableHost", "127.0.0.1"])
            .args(["--blobPort", "0", "--queuePort", "0", "--tablePort", "0"])
            .arg("--cert")
            .arg(&cert_path)
            .arg("--key")
            .arg(&key_path)
            .args(["--oauth", "basic", "--inMemoryPersistence"])
            .args(["--disableTelemetry", "--silent"])
            // Azurite's own debug and access logs stay off; its start-up lines say where it listens.
            .env_remove("AZURITE_ACCOUNTS")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io_error(format!("cannot start {}: {e}", program.display())))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, Arc::clone(&output), Some(tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, Arc::clone(&output), None);
        }
        drop(tx);
        let mut blob = None;
        let mut queue = None;
        let wait = async {
            while let Some(line) = rx.recv().await {
                if let Some(addr) = listening(&line, "Blob") {
                    blob = Some(addr);
                } else if let Some(addr) = listening(&line, "Queue") {
                    queue = Some(addr);
                }
                if blob.is_some() && queue.is_some() {
                    return true;
                }
            }
            false
        };
        let started = tokio::time::timeout(START_LIMIT, wait)
            .await
            .unwrap_or(false);
        match (started, blob, queue) {
            (true, Some(blob), Some(queue)) => Ok(Azurite {
                child,
                blob,
                queue,
                output,
                _dir: dir,
            }),
            _ => {
                let _ = child.start_kill();
                let said = output
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .join("\n");
                Err(io_error(format!(
                    "Azurite ({}) did not start listening within {} s; its output:\n{said}",
                    program.display(),
                    START_LIMIT.as_secs()
                )))
            }
        }
    }

    /// What Azurite printed so far (start-up lines and errors).
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops Azurite now (its state is lost).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `Azurite Blob service is successfully listening at https://127.0.0.1:PORT` → the address.
fn listening(line: &str, service: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix(&format!(
        "Azurite {service} service is successfully listening at "
    ))?;
    let rest = rest.trim();
    let authority = rest
        .strip_prefix("https://")
        .or_else(|| rest.strip_prefix("http://"))?;
    authority.trim_end_matches('/').parse().ok()
}

fn drain(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<Vec<String>>>,
    tx: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(tx) = &tx {
                let _ = tx.send(line.clone());
            }
            let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
            // Bounded: only the start and any errors matter.
            if output.len() < 200 {
                output.push(line);
            }
        }
    });
}

/// The `azurite` command: `$AZURITE`, else the pinned install (made on first use).
fn program() -> std::io::Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| match std::env::var_os("AZURITE") {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => install(),
        })
        .clone()
        .map_err(io_error)
}

/// Runs `scripts/install-azurite.sh` under a lock file (tests in other processes may do the same).
fn install() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/install-azurite.sh");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let lock_path = target.join("azurite.lock");
    let lock =
        std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let output = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    drop(lock);
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}\nInstall Node.js and npm, or set AZURITE to the path of an `azurite` command.",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_lines_give_the_addresses() {
        let line = "Azurite Blob service is successfully listening at https://127.0.0.1:33395";
        assert_eq!(
            listening(line, "Blob"),
            Some("127.0.0.1:33395".parse().unwrap())
        );
        assert_eq!(listening(line, "Queue"), None);
        assert_eq!(
            listening(
                "Azurite Blob service is starting at https://127.0.0.1:0",
                "Blob"
            ),
            None
        );
    }
}
