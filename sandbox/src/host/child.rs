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

/// Ports handed to handler processes of this process's hosts and not yet released: until the
/// handler binds its port, another host of the same process (tests run many) must not be handed it.
static LEASED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Where handler ports come from when the kernel's ephemeral range is known: the 8,000 ports just
/// below it. A port in the ephemeral range, free when found, can be given to any `bind(0)` (another
/// test's emulator or host front) or be an outgoing connection's source port (a readiness probe
/// connecting to itself) in the time the handler takes to bind it; both once passed for a ready
/// handler. Below the range only an explicit bind to that very port collides.
const BELOW_EPHEMERAL: u16 = 8_000;

/// A free port reserved for one handler process; released on drop.
pub(crate) struct PortLease(u16);

impl PortLease {
    pub(crate) fn take() -> std::io::Result<PortLease> {
        let below = ephemeral_low().filter(|low| *low > 1024 + BELOW_EPHEMERAL);
        for _ in 0..200 {
            let port = match below {
                Some(low) => {
                    low - 1 - (uuid::Uuid::new_v4().as_u128() % u128::from(BELOW_EPHEMERAL)) as u16
                }
                None => 0,
            };
            let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) else {
                continue;
            };
            let port = listener.local_addr()?.port();
            if LEASED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(port)
            {
                return Ok(PortLease(port));
            }
        }
        Err(std::io::Error::other(
            "no free port found for the handler in 200 tries",
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

/// The first port of the kernel's ephemeral range (Linux), if it can be read.
fn ephemeral_low() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
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

/// Polls `GET /` every 25 ms: true at the first HTTP answer (any status, as the host decides), false
/// at the deadline. A refused connection or an exchange that is not HTTP is "not yet": a probe whose
/// kernel-chosen source port is the handler's own port connects to itself (TCP simultaneous open)
/// and reads its own request back, which once passed for a ready handler.
pub(crate) async fn wait_ready(port: u16, deadline: Instant) -> bool {
    loop {
        let probe =
            tokio::time::timeout_at(deadline, wire::send(port, "GET", "/", &[], None)).await;
        match probe {
            Err(_) => return false,
            Ok(Err(WireError::Connect(_) | WireError::Io(_))) => {}
            Ok(Ok(_)) => return true,
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener that answers every connection with bytes that are not HTTP, then one that answers
    /// HTTP: only the second is a ready handler.
    async fn listener(answer: &'static [u8]) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            }
        });
        port
    }

    #[test]
    fn handler_ports_are_below_the_ephemeral_range_and_not_handed_twice() {
        let leases: Vec<PortLease> = (0..50).map(|_| PortLease::take().unwrap()).collect();
        let ports: BTreeSet<u16> = leases.iter().map(PortLease::port).collect();
        assert_eq!(ports.len(), 50);
        if let Some(low) = ephemeral_low() {
            assert!(
                ports
                    .iter()
                    .all(|p| *p < low && *p >= low - BELOW_EPHEMERAL),
                "{ports:?}"
            );
        }
        let first = leases[0].port();
        drop(leases);
        assert!(!LEASED.lock().unwrap().contains(&first));
    }

    #[tokio::test]
    async fn only_an_http_answer_is_ready() {
        let garbage = listener(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").await;
        let deadline = Instant::now() + Duration::from_millis(300);
        assert!(!wait_ready(garbage, deadline).await);

        let http = listener(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(wait_ready(http, deadline).await);
    }
}
