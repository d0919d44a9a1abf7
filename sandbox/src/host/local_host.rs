//! [`LocalHost`]: one running host (the app read, the handler supervised, the front served, the timers
//! scheduled) and the state its parts share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::app::{self, App};
use super::console::{Console, HOST};
use super::front;
use super::function::{FunctionInfo, Trigger};
use super::options::{HostError, HostOptions, InvocationRecord};
use super::process::{HandlerStatus, ProcessSpec, Supervisor};
use super::timer::{self, Firing, TimerState};

/// What the front, the timers and the invocations share.
pub(crate) struct Shared {
    pub app: App,
    pub console: Console,
    pub supervisor: Supervisor,
    /// `None`: no function timeout.
    pub timeout: Option<Duration>,
    pub timers: HashMap<String, TimerState>,
    pub base_url: String,
    records: Mutex<Vec<InvocationRecord>>,
    finished: watch::Sender<usize>,
}

impl Shared {
    /// The function of that name (case-insensitive, like the host's routes).
    pub(crate) fn function(&self, name: &str) -> Option<Arc<FunctionInfo>> {
        self.app
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    pub(crate) fn record(&self, record: InvocationRecord) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        self.finished.send_modify(|n| *n += 1);
    }

    fn records(&self) -> Vec<InvocationRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A running local Functions host. Dropping it kills the handler; prefer [`LocalHost::stop`].
pub struct LocalHost {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl LocalHost {
    /// Reads the app, listens, starts the handler and returns once it answered `GET /`; then
    /// starts the timers (if asked).
    ///
    /// # Errors
    /// A bad app folder, a port in use, or a handler that never became ready.
    pub async fn start(options: HostOptions) -> Result<LocalHost, HostError> {
        let console = Console::new(options.output.clone());
        let root = std::fs::canonicalize(&options.app_root)
            .map_err(|e| HostError::Config(format!("{}: {e}", options.app_root.display())))?;
        let removed = options.env_remove.clone();
        let parent = move |key: &str| {
            (!removed.iter().any(|r| r == key))
                .then(|| std::env::var(key).ok())
                .flatten()
        };
        let app = app::load(&root, &options.settings, &parent)?;
        for note in &app.notes {
            console.info(HOST, note.clone());
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| {
                HostError::Listen(format!("cannot listen on 127.0.0.1:{}: {e}", options.port))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| HostError::Listen(format!("cannot listen on 127.0.0.1: {e}")))?;
        let spec = ProcessSpec {
            program: app.program.clone(),
            args: app.args.clone(),
            working_dir: app.working_dir.clone(),
            app_root: app.root.clone(),
            settings: app.settings.clone(),
            env_remove: options.env_remove.clone(),
            startup_limit: options.startup_timeout,
        };
        let now = super::clock::now();
        let timers = app
            .functions
            .iter()
            .filter_map(|f| match &f.trigger {
                Trigger::Timer(t) => Some((f.name.clone(), TimerState::new(t, now))),
                Trigger::Http(_) | Trigger::Queue(_) => None,
            })
            .collect();
        let shared = Arc::new(Shared {
            timeout: options.function_timeout.or(app.function_timeout),
            supervisor: Supervisor::start(spec, console.clone()),
            app,
            console,
            timers,
            base_url: format!("http://{addr}"),
            records: Mutex::new(Vec::new()),
            finished: watch::channel(0).0,
        });
        let mut tasks = vec![tokio::spawn(front::serve(listener, Arc::clone(&shared)))];
        if let Err(why) = shared.supervisor.ready().await {
            shared.supervisor.stop().await;
            tasks.iter().for_each(JoinHandle::abort);
            return Err(HostError::Handler(why));
        }
        announce(&shared);
        for function in &shared.app.functions {
            if matches!(function.trigger, Trigger::Queue(_)) {
                tasks.push(tokio::spawn(super::queue::listen(
                    Arc::clone(&shared),
                    Arc::clone(function),
                )));
            }
        }
        if options.start_timers {
            for function in &shared.app.functions {
                if matches!(function.trigger, Trigger::Timer(_)) {
                    timer::announce(&shared, function);
                    tasks.push(tokio::spawn(timer::schedule_loop(
                        Arc::clone(&shared),
                        Arc::clone(function),
                    )));
                }
            }
        }
        Ok(LocalHost {
            shared,
            addr,
            tasks,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn functions(&self) -> Vec<FunctionInfo> {
        self.shared
            .app
            .functions
            .iter()
            .map(|f| (**f).clone())
            .collect()
    }

    /// Runs a timer function now, as `POST /admin/functions/<name>` does, and waits for it (with its
    /// retries): the record of the last attempt.
    ///
    /// # Errors
    /// No timer function of that name.
    pub async fn invoke_timer(&self, function: &str) -> Result<InvocationRecord, HostError> {
        let f = self
            .shared
            .function(function)
            .filter(|f| matches!(f.trigger, Trigger::Timer(_)))
            .ok_or_else(|| HostError::Function(format!("no timer function named '{function}'")))?;
        timer::fire(&self.shared, &f, Firing::OnDemand)
            .await
            .ok_or_else(|| HostError::Function(format!("'{function}' did not run")))
    }

    /// Every finished invocation so far, in order of completion.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.shared.records()
    }

    /// Waits until `count` invocations of `function` have finished; returns them.
    ///
    /// # Errors
    /// `timeout` ran out first.
    pub async fn wait_for_invocations(
        &self,
        function: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<InvocationRecord>, HostError> {
        let mut finished = self.shared.finished.subscribe();
        let wait = async {
            loop {
                let records: Vec<InvocationRecord> = self
                    .shared
                    .records()
                    .into_iter()
                    .filter(|r| r.function.eq_ignore_ascii_case(function))
                    .collect();
                if records.len() >= count {
                    return records;
                }
                if finished.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            HostError::Timeout(format!(
                "{count} invocation(s) of '{function}' within {timeout:?}"
            ))
        })
    }

    pub fn handler_status(&self) -> HandlerStatus {
        self.shared.supervisor.status()
    }

    /// The pid of the current handler process, once started.
    pub fn handler_pid(&self) -> Option<u32> {
        match self.shared.supervisor.status() {
            HandlerStatus::Starting { pid } => pid,
            HandlerStatus::Ready { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// Handler processes started after the first.
    pub fn restarts(&self) -> usize {
        self.shared.supervisor.restarts()
    }

    /// Waits until the handler's status satisfies `until`; returns it.
    ///
    /// # Errors
    /// `timeout` ran out first.
    pub async fn wait_for_handler(
        &self,
        timeout: Duration,
        until: impl Fn(&HandlerStatus) -> bool,
    ) -> Result<HandlerStatus, HostError> {
        let mut status = self.shared.supervisor.subscribe();
        let wait = async { status.wait_for(|s| until(s)).await.map(|s| s.clone()) };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err(HostError::Handler("the host has stopped".into())),
            Err(_) => Err(HostError::Timeout(format!(
                "the handler did not reach the awaited state within {timeout:?} (now {:?})",
                self.handler_status()
            ))),
        }
    }

    /// Resolves when the host shuts itself down (three handler errors): the last error.
    pub async fn wait_for_shutdown(&self) -> HostError {
        let message = self
            .wait_for_handler(Duration::MAX, |s| matches!(s, HandlerStatus::Failed { .. }))
            .await;
        match message {
            Ok(HandlerStatus::Failed { message }) => HostError::Handler(message),
            Ok(other) => HostError::Handler(format!("{other:?}")),
            Err(e) => e,
        }
    }

    /// Stops the timers and the front and kills the handler (SIGKILL, as the host does).
    pub async fn stop(self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        self.shared.supervisor.stop().await;
    }
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        self.shared.supervisor.stop_now();
    }
}

/// The function list, as Core Tools prints it once the host runs.
fn announce(shared: &Shared) {
    shared.console.info(HOST, "Functions:");
    for function in &shared.app.functions {
        let line = match &function.trigger {
            Trigger::Http(t) => {
                let methods = t
                    .methods
                    .as_ref()
                    .map_or_else(|| "ALL".to_owned(), |m| m.join(","));
                let prefix = if shared.app.route_prefix.is_empty() {
                    String::new()
                } else {
                    format!("/{}", shared.app.route_prefix)
                };
                format!(
                    "  {}: [{methods}] {}{prefix}/{}",
                    function.name, shared.base_url, t.route
                )
            }
            Trigger::Timer(_) => format!("  {}: timerTrigger", function.name),
            Trigger::Queue(_) => format!("  {}: queueTrigger", function.name),
        };
        shared.console.info(HOST, line);
    }
}
