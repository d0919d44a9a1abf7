//! The public types around [`super::LocalHost`]: its options ([`HostOptions`]), its errors
//! ([`HostError`]) and the record it keeps of each invocation ([`InvocationRecord`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::console::Output;

/// How to run a host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The app folder: `host.json`, `<Function>/function.json`, the executable.
    pub app_root: PathBuf,
    /// Port of the HTTP front on 127.0.0.1 (7071 like Core Tools; 0 picks a free one).
    pub port: u16,
    /// App settings on top of `local.settings.json` (they win).
    pub settings: Vec<(String, String)>,
    /// Parent-environment variables the handler must not inherit.
    pub env_remove: Vec<String>,
    /// Overrides `host.json` `functionTimeout` (default 30 min).
    pub function_timeout: Option<Duration>,
    /// How long the handler has to answer `GET /` (the host's 30 s).
    pub startup_timeout: Duration,
    pub output: Output,
    /// Run timer functions on their schedules (and `runOnStartup`).
    pub start_timers: bool,
}

impl HostOptions {
    /// The defaults for an app folder: port 7071, the app's settings only, host.json's timeout,
    /// 30 s to start, stdout, timers on.
    pub fn new(app_root: impl Into<PathBuf>) -> HostOptions {
        HostOptions {
            app_root: app_root.into(),
            port: 7071,
            settings: Vec::new(),
            env_remove: Vec::new(),
            function_timeout: None,
            startup_timeout: Duration::from_secs(30),
            output: Output::Stdout,
            start_timers: true,
        }
    }
}

/// Why the host cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// `host.json`, a `function.json` or the settings file is missing or wrong (the file is named).
    Config(String),
    /// The front could not listen.
    Listen(String),
    /// The handler could not be started or kept running.
    Handler(String),
    /// No such function, or not of the kind asked for.
    Function(String),
    /// A wait ran out.
    Timeout(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Config(m) => write!(f, "bad app: {m}"),
            HostError::Listen(m) | HostError::Handler(m) | HostError::Function(m) => f.write_str(m),
            HostError::Timeout(m) => write!(f, "timed out: {m}"),
        }
    }
}

impl std::error::Error for HostError {}

/// One invocation, as the host recorded it.
#[derive(Debug, Clone)]
pub struct InvocationRecord {
    /// The `X-Azure-Functions-InvocationId`.
    pub id: String,
    pub function: String,
    /// As in `Executing '...' (Reason='...')`.
    pub reason: String,
    pub started: OffsetDateTime,
    pub duration: Duration,
    pub succeeded: bool,
    /// Why it failed, as the host says it.
    pub error: Option<String>,
    /// The handler's HTTP status, if it answered.
    pub status: Option<u16>,
    /// The answer's `Logs`.
    pub logs: Vec<String>,
    /// 0 for the first attempt, then the retry number.
    pub retry_count: u32,
    /// The handler's JSON answer of a success.
    pub answer: Option<Value>,
}
