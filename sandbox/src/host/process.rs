//! The handler process, supervised as the host supervises it: one process at a time (see
//! [`child`](super::child)), on a new free port for each start, polled with `GET /` every 25 ms
//! until any HTTP answer (30 s limit, then killed and restarted).
//!
//! Exit code 0: the process is gone and not restarted. 200: an intentional restart. Anything else
//! (or a signal) is an error and the handler is restarted; the third error with no more than 30
//! minutes between consecutive ones shuts the host down (`HandlerStatus::Failed`). A function timeout
//! restarts the process without counting as an error. Every kill is SIGKILL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub(crate) use super::child::ProcessSpec;
use super::child::{self, Exit, PortLease, Spawned};
use super::console::{Console, HOST};
const ERROR_WINDOW: Duration = Duration::from_secs(30 * 60);
const ERROR_THRESHOLD: usize = 3;

/// Where the handler process stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerStatus {
    /// Being started or polled with `GET /`.
    Starting { pid: Option<u32> },
    /// Answered `GET /`: invocations go to this port.
    Ready { pid: u32, port: u16 },
    /// Exited with code 0: gone, not restarted.
    Gone { pid: u32 },
    /// Too many errors: the host shut down.
    Failed { message: String },
    /// Killed by `stop`.
    Stopped,
}

enum Kill {
    Stop,
    Restart { pid: u32 },
}

/// How one process ended.
enum Ended {
    Stopped,
    /// Start a new process, not counted as an error; says why.
    Restart(String),
    /// Exited with code 0; says so.
    Gone(u32, String),
    Error(String),
}

/// The supervisor task's handle.
pub(crate) struct Supervisor {
    status: watch::Receiver<HandlerStatus>,
    kills: mpsc::UnboundedSender<Kill>,
    starts: Arc<AtomicUsize>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Supervisor {
    pub(crate) fn start(spec: ProcessSpec, console: Console) -> Supervisor {
        let (status_tx, status) = watch::channel(HandlerStatus::Starting { pid: None });
        let (kills, kill_rx) = mpsc::unbounded_channel();
        let starts = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(supervise(
            spec,
            console,
            status_tx,
            kill_rx,
            Arc::clone(&starts),
        ));
        Supervisor {
            status,
            kills,
            starts,
            task: Mutex::new(Some(task)),
        }
    }

    pub(crate) fn status(&self) -> HandlerStatus {
        self.status.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<HandlerStatus> {
        self.status.clone()
    }

    /// Processes started after the first.
    pub(crate) fn restarts(&self) -> usize {
        self.starts.load(Ordering::SeqCst).saturating_sub(1)
    }

    /// Waits until the handler is ready (`Ok((pid, port))`) or will not be (`Err(why)`).
    pub(crate) async fn ready(&self) -> Result<(u32, u16), String> {
        let mut status = self.status.clone();
        let settled = status
            .wait_for(|s| !matches!(s, HandlerStatus::Starting { .. }))
            .await
            .map(|s| s.clone());
        match settled {
            Ok(HandlerStatus::Ready { pid, port }) => Ok((pid, port)),
            Ok(HandlerStatus::Gone { pid }) => Err(format!(
                "the handler process (pid {pid}) exited with code 0 and is not restarted"
            )),
            Ok(HandlerStatus::Failed { message }) => {
                Err(format!("the host has shut down: {message}"))
            }
            _ => Err("the host is stopped".to_owned()),
        }
    }

    /// Kills process `pid` (if it is still the current one) and starts a new one.
    pub(crate) fn restart(&self, pid: u32) {
        let _ = self.kills.send(Kill::Restart { pid });
    }

    /// Kills the handler for good and waits for the supervisor to end.
    pub(crate) async fn stop(&self) {
        let _ = self.kills.send(Kill::Stop);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// `stop` without waiting (for `Drop`).
    pub(crate) fn stop_now(&self) {
        let _ = self.kills.send(Kill::Stop);
    }
}

async fn supervise(
    spec: ProcessSpec,
    console: Console,
    status: watch::Sender<HandlerStatus>,
    mut kills: mpsc::UnboundedReceiver<Kill>,
    starts: Arc<AtomicUsize>,
) {
    let mut errors: Vec<Instant> = Vec::new();
    loop {
        starts.fetch_add(1, Ordering::SeqCst);
        status.send_replace(HandlerStatus::Starting { pid: None });
        let message = match run_once(&spec, &console, &status, &mut kills).await {
            Ended::Stopped => {
                status.send_replace(HandlerStatus::Stopped);
                return;
            }
            Ended::Restart(message) => {
                console.info(HOST, message);
                continue;
            }
            Ended::Gone(pid, message) => {
                console.info(HOST, message);
                status.send_replace(HandlerStatus::Gone { pid });
                return;
            }
            Ended::Error(message) => message,
        };
        // Like HttpFunctionInvocationDispatcher: the bucket empties when the previous error is
        // older than the window; the third error in the bucket stops the host.
        let now = Instant::now();
        if errors.last().is_some_and(|last| now - *last > ERROR_WINDOW) {
            errors.clear();
        }
        errors.push(now);
        if errors.len() >= ERROR_THRESHOLD {
            console.error(HOST, &message);
            console.error(
                HOST,
                "Exceeded http worker restart retry count. Shutting down Functions Host",
            );
            status.send_replace(HandlerStatus::Failed { message });
            return;
        }
        console.error(HOST, format!("{message}. Restarting the handler."));
    }
}

async fn run_once(
    spec: &ProcessSpec,
    console: &Console,
    status: &watch::Sender<HandlerStatus>,
    kills: &mut mpsc::UnboundedReceiver<Kill>,
) -> Ended {
    let program = spec.program.display().to_string();
    let lease = match PortLease::take() {
        Ok(lease) => lease,
        Err(e) => return Ended::Error(format!("no free port for the handler: {e}")),
    };
    let port = lease.port();
    let Spawned {
        mut child,
        pid,
        tail,
    } = match child::spawn(spec, port, console) {
        Ok(spawned) => spawned,
        Err(e) => return Ended::Error(e),
    };
    status.send_replace(HandlerStatus::Starting { pid: Some(pid) });
    console.info(
        HOST,
        format!("Started {program} (pid {pid}); waiting for it to answer GET / on port {port}"),
    );
    let on_exit = |exit| match child::exited(&program, pid, exit, &tail) {
        Exit::Gone(message) => Ended::Gone(pid, message),
        Exit::Restart(message) => Ended::Restart(message),
        Exit::Error(message) => Ended::Error(message),
    };

    let deadline = Instant::now() + spec.startup_limit;
    loop {
        tokio::select! {
            exit = child.wait() => return on_exit(exit),
            kill = kills.recv() => if let Some(ended) = on_kill(kill, pid, &mut child).await {
                return ended;
            },
            ready = child::wait_ready(port, deadline) => {
                if ready {
                    break;
                }
                child::kill(&mut child).await;
                return Ended::Error(format!(
                    "{program} (pid {pid}) did not answer GET / on port {port} within {} s",
                    spec.startup_limit.as_secs_f32()
                ));
            }
        }
    }
    console.info(
        HOST,
        format!("Worker process started and initialized (pid {pid}, port {port})."),
    );
    status.send_replace(HandlerStatus::Ready { pid, port });
    loop {
        tokio::select! {
            exit = child.wait() => return on_exit(exit),
            kill = kills.recv() => if let Some(ended) = on_kill(kill, pid, &mut child).await {
                return ended;
            },
        }
    }
}

/// Handles a kill request: `None` when it is about an older process.
async fn on_kill(kill: Option<Kill>, pid: u32, child: &mut Child) -> Option<Ended> {
    match kill {
        Some(Kill::Restart { pid: target }) if target != pid => None,
        Some(Kill::Restart { .. }) => {
            child::kill(child).await;
            Some(Ended::Restart(format!(
                "Killed the handler process (pid {pid}); starting a new one."
            )))
        }
        Some(Kill::Stop) | None => {
            child::kill(child).await;
            Some(Ended::Stopped)
        }
    }
}
