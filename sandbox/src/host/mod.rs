//! A local Azure Functions host for custom handlers, speaking the protocol as the real v4 host does
//! (see `shared/reference/functions-host.md`): it reads any app folder (`host.json`,
//! `<Function>/function.json`, `local.settings.json`), starts the handler executable with the app
//! settings and `FUNCTIONS_CUSTOMHANDLER_PORT`, waits for `GET /`, restarts it when it dies, fires
//! timer functions on their NCRONTAB schedules (with `ScheduleStatus`, retries and `RetryContext`),
//! serves HTTP functions on `/api/<Function>` and the admin API, and prints what the host prints.
//! Payload mode only (`enableForwardingHttpRequest: false`).
//!
//! Use it from Rust through [`LocalHost`] (tests, the demo) or as `sandbox host --app-root <dir>`.
//!
//! Modules: [`app`](self::app) and [`function`](self::function) read the folder; `schedule` and
//! `clock` do NCRONTAB and .NET date/`TimeSpan` text; `child` starts one handler process and `process` supervises it; `wire` is the
//! HTTP/1.1 client to it; `payload` builds and unwraps bodies; `invoke` runs one invocation; `timer`
//! the timer functions; `route` and `front` the HTTP side; `local_host` ties them together, with the public types in `options`.

mod app;
mod child;
mod clock;
mod console;
mod front;
mod function;
mod invoke;
mod local_host;
mod options;
mod payload;
mod process;
mod queue;
mod route;
mod schedule;
mod timer;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub use console::{ConsoleLine, Level, Output};
pub use function::{
    FunctionInfo, HttpTrigger, QueueTrigger, RetryPolicy, RetryStrategy, TimerTrigger, Trigger,
};
pub use invoke::{HOST_VERSION, PROGRAMMATIC};
pub use local_host::LocalHost;
pub use options::{HostError, HostOptions, InvocationRecord};
pub use process::HandlerStatus;
pub use queue::queue_client;

/// `sandbox host`: run any custom-handler app folder until Ctrl-C.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// The app folder (host.json, <Function>/function.json, the handler executable)
    #[arg(long, default_value = ".")]
    pub app_root: PathBuf,
    /// Port of the HTTP front on 127.0.0.1 (0 picks a free one)
    #[arg(long, default_value_t = 7071)]
    pub port: u16,
    /// An app setting on top of local.settings.json, as NAME=VALUE (repeatable)
    #[arg(long = "setting", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// Function timeout in seconds (default: host.json functionTimeout, else 30 min)
    #[arg(long, value_name = "SECONDS")]
    pub function_timeout: Option<u64>,
    /// Do not run timer functions on their schedules (the admin API still runs them)
    #[arg(long)]
    pub no_timers: bool,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected NAME=VALUE, got \"{text}\"")),
    }
}

/// Runs the host until Ctrl-C, SIGTERM or SIGHUP (exit 0) or until it shuts itself down (exit 1).
pub async fn run(args: HostArgs) -> ExitCode {
    let options = HostOptions {
        port: args.port,
        settings: args.settings,
        function_timeout: args.function_timeout.map(Duration::from_secs),
        start_timers: !args.no_timers,
        ..HostOptions::new(args.app_root)
    };
    let host = match LocalHost::start(options).await {
        Ok(host) => host,
        Err(e) => {
            eprintln!("sandbox host: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("Host running on {}. Press Ctrl+C to shut down.", host.url());
    let code = tokio::select! {
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        _ = terminated() => ExitCode::SUCCESS,
        error = host.wait_for_shutdown() => {
            eprintln!("sandbox host: {error}");
            ExitCode::FAILURE
        }
    };
    host.stop().await;
    code
}

/// SIGTERM or SIGHUP: stop like Ctrl-C, so the handler is not left orphaned.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}
