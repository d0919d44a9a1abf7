//! One handler process: started with the app settings and `FUNCTIONS_CUSTOMHANDLER_PORT`,
//! `FUNCTIONS_HTTPWORKER_PORT` (the same free port), `FUNCTIONS_CUSTOMHANDLER_WORKER_ID` (a new GUID),
//! `FUNCTIONS_APP_ROOT_PATH`, on top of the parent environment; its stdout lines printed as
//! Information, stderr lines as Error (Warning when they contain "warn"); polled with `GET /`; its
//! exit read the way the host reads it (0 gone, 200 intentional restart, anything else an error).

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::console::{Console, Level, WORKER};
use super::wire::{self, WireError};

const POLL: Duration = Duration::from_millis(25);

/// How to start the handler.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub working_dir: PathBuf,
    pub app_root: PathBuf,
    pub settings: Vec<(String, String)>,
    pub env_remove: Vec<String>,
    pub startup_limit: Duration,
}

/// Ports handed to handler processes of this process's hosts and not yet released. A port is
/// found free by binding port 0 and letting go; until the handler binds it, another host of the same
/// process (tests run many) could be handed the same port and mistake the other handler for its own.
static LEASED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free port reserved for one handler process; released on drop.
pub(crate) struct PortLease(u16);

impl PortLease {
    pub(crate) fn take() -> std::io::Result<PortLease> {
        for _ in 0..100 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            if LEASED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(port)
            {
                return Ok(PortLease(port));
            }
        }
        Err(std::io::Error::other(
            "every free port offered is leased already",
        ))
    }

    pub(crate) fn port(&self) -> u16 {
        self.0
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        LEASED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// A started process.
pub(crate) struct Spawned {
    pub child: Child,
    pub pid: u32,
    /// The last three stderr error lines, for the exit message (as the host keeps them).
    pub tail: Arc<Mutex<VecDeque<String>>>,
}

/// Starts the handler listening on `port`, its output printed to `console`.
pub(crate) fn spawn(spec: &ProcessSpec, port: u16, console: &Console) -> Result<Spawned, String> {
    let program = spec.program.display();
    let mut command = Command::new(&spec.program);
    command.args(&spec.args).current_dir(&spec.working_dir);
    for name in &spec.env_remove {
        command.env_remove(name);
    }
    command
        .envs(spec.settings.iter().map(|(k, v)| (k, v)))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
        .env(
            "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
            uuid::Uuid::new_v4().to_string(),
        )
        .env("FUNCTIONS_APP_ROOT_PATH", &spec.app_root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("Failed to start {program}: {e}"))?;
    let pid = child
        .id()
        .ok_or_else(|| format!("{program} exited at once"))?;
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(out) = child.stdout.take() {
        pipe(out, false, console.clone(), Arc::clone(&tail));
    }
    if let Some(err) = child.stderr.take() {
        pipe(err, true, console.clone(), Arc::clone(&tail));
    }
    Ok(Spawned { child, pid, tail })
}

/// SIGKILL, then reap.
pub(crate) async fn kill(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// How a process ended on its own.
pub(crate) enum Exit {
    /// Code 0: gone, not to be restarted.
    Gone(String),
    /// Code 200: restart, not an error.
    Restart(String),
    Error(String),
}

pub(crate) fn exited(
    program: &str,
    pid: u32,
    exit: std::io::Result<std::process::ExitStatus>,
    tail: &Mutex<VecDeque<String>>,
) -> Exit {
    let exit = match exit {
        Ok(exit) => exit,
        Err(e) => return Exit::Error(format!("{program} (pid {pid}): cannot wait for it: {e}")),
    };
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&exit);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    match (exit.code(), signal) {
        (Some(0), _) => Exit::Gone(format!(
            "{program} (pid {pid}) exited with code 0: the process is gone and is not restarted"
        )),
        (Some(200), _) => Exit::Restart(format!(
            "{program} (pid {pid}) exited with code 200 (intentional restart); starting a new one."
        )),
        (code, signal) => {
            let code = code.or(signal.map(|s| 128 + s)).unwrap_or(-1);
            let how = signal
                .map(|s| format!(" (killed by signal {s})"))
                .unwrap_or_default();
            let tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
            let last: Vec<&str> = tail.iter().map(String::as_str).collect();
            let stderr = if last.is_empty() {
                String::new()
            } else {
                format!(": {}", last.join(","))
            };
            Exit::Error(format!(
                "{program} (pid {pid}) exited with code {code}{how}{stderr}"
            ))
        }
    }
}

/// Polls `GET /` every 25 ms: true at the first HTTP answer (or anything but a refused connection,
/// as the host decides), false at the deadline.
pub(crate) async fn wait_ready(port: u16, deadline: Instant) -> bool {
    loop {
        let probe =
            tokio::time::timeout_at(deadline, wire::send(port, "GET", "/", &[], None)).await;
        match probe {
            Err(_) => return false,
            Ok(Err(WireError::Connect(_))) => {}
            Ok(_) => return true,
        }
        if Instant::now() + POLL >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints the lines of one output stream; the last three stderr error lines are kept for the exit message.
fn pipe(
    stream: impl AsyncRead + Unpin + Send + 'static,
    stderr: bool,
    console: Console,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            let level = match stderr {
                false => Level::Information,
                true if line.to_ascii_lowercase().contains("warn") => Level::Warning,
                true => Level::Error,
            };
            if level == Level::Error {
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == 3 {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
            }
            console.emit(level, WORKER, line);
        }
    });
}
