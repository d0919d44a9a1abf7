//! The command line: `handler [serve]`, `handler sync`, `handler check-config`.
//! Exit codes: `sync` 0 all workspaces succeeded, 1 some did not, 2 usage or configuration error;
//! `check-config` 0 or 2; `serve` never exits 0 (the Functions host would not restart it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, Identities, WorkspaceAuth};
use crate::databricks::AccountPace;
use crate::functions::{AppState, Application, Misconfiguration};
use crate::notify::Notifier;
use crate::settings::{Settings, SharedStorage, handler_port};
use crate::state::StateStore;
use crate::sync::{AzureEngine, Engine, Report, RunError, RunRequest, Runner, Status, Trigger};
use crate::telemetry::{self, Mode};

const USAGE_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "handler",
    version,
    about = "Keeps Azure Databricks workspaces in step with Microsoft Entra ID groups (Azure Functions custom handler)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Functions host on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (the default)
    Serve,
    /// Run one sync now and print its report; exit 0 if every workspace succeeded, 1 if not, 2 on usage or configuration errors
    Sync(SyncArgs),
    /// Validate the configuration file and app settings; exit 0 if usable, 2 if not
    CheckConfig(ConfigArg),
}

#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// Configuration file [default: $SYNC_CONFIG_PATH, else sync-config.json in the app root]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Sync only this workspace (repeatable); default: every configured workspace
    #[arg(long = "workspace", value_name = "NAME")]
    workspaces: Vec<String>,
    /// Plan only: read, compare and report what would change, write nothing
    #[arg(long)]
    dry_run: bool,
    /// Confirm deprovisioning beyond maxDeprovision for this run
    #[arg(long)]
    allow_deprovision: bool,
    /// Report format on stdout
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Runs the command line `args` (including the program name) and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(USAGE_ERROR));
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::CheckConfig(args) => check_config(&args),
        Command::Sync(args) => sync(&args),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn settings_or_report() -> Result<Settings, ExitCode> {
    Settings::from_env().map_err(|errors| {
        for e in errors {
            eprintln!("handler: {e}");
        }
        ExitCode::from(USAGE_ERROR)
    })
}

fn load_config(settings: &Settings, flag: Option<&Path>) -> Result<(PathBuf, Config), ExitCode> {
    let path = settings.config_path_or(flag);
    Config::load(&path)
        .map(|config| (path, config))
        .map_err(|e| {
            eprintln!("handler: {e}");
            ExitCode::from(USAGE_ERROR)
        })
}

fn check_config(args: &ConfigArg) -> ExitCode {
    telemetry::init(Mode::Cli);
    let settings = match settings_or_report() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let (path, config) = match load_config(&settings, args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    println!(
        "{}: valid, {} workspace(s)",
        path.display(),
        config.workspaces.len()
    );
    match &settings.storage {
        SharedStorage::Account {
            blob_endpoint,
            setting,
            ..
        } => println!(
            "  shared state: {} ({setting}): a lease per workspace, the last reports",
            blob_endpoint.as_str().trim_end_matches('/')
        ),
        SharedStorage::Off(why) => {
            println!("  shared state: none, runs coordinate within one process ({why})")
        }
    }
    if let Some(account) = &config.account {
        println!(
            "  account: {} at {}",
            account.account_id,
            account.host.as_str().trim_end_matches('/')
        );
        let pace = AccountPace::configured(account.requests_per_second);
        let source = match account.requests_per_second {
            None => "90 % of Databricks' documented account limits",
            Some(_) => "account.requestsPerSecond, a kind left out at 90 % of the documented limit",
        };
        println!("    pace at most: {} ({source})", pace.describe());
    }
    for ws in &config.workspaces {
        let groups: Vec<String> = ws.access_groups.iter().map(ToString::to_string).collect();
        println!("  {}: {}", ws.name, ws.instance);
        println!("    groups: {}", groups.join(", "));
        match &ws.auth {
            WorkspaceAuth::Pat(url) => println!("    PAT from Key Vault secret: {url}"),
            WorkspaceAuth::ManagedIdentity => {
                println!("    authenticates as the app's managed identity")
            }
        }
        if ws.options.identities == Identities::Account {
            // Validation guarantees the id in account mode.
            let id = ws.workspace_id.map(|id| id.to_string()).unwrap_or_default();
            println!("    identities: at the account, assigned to workspace id {id}");
        } else {
            println!(
                "    pace at most: {}/s over the workspace's SCIM API",
                ws.options.scim_requests_per_second
            );
        }
        println!("    {}", describe_options(ws));
    }
    ExitCode::SUCCESS
}

/// The options that decide what a sync may change, in one line, so a reviewer sees them at a glance.
fn describe_options(ws: &crate::config::Workspace) -> String {
    let o = &ws.options;
    let deprovision = match o.deprovision {
        crate::config::Deprovision::None => "deprovision: none".to_owned(),
        crate::config::Deprovision::Deactivate => "deprovision: deactivate".to_owned(),
        crate::config::Deprovision::Remove => "deprovision: REMOVE".to_owned(),
    };
    let limit = match o.max_deprovision {
        crate::config::MaxDeprovision::Count(n) => format!(" (at most {n} a run)"),
        crate::config::MaxDeprovision::Percent(p) => {
            format!(" (at most {p}% of the managed users a run)")
        }
        crate::config::MaxDeprovision::Default => {
            " (at most 10% of the managed users a run, at least 5)".to_owned()
        }
    };
    let limit = if o.deprovision == crate::config::Deprovision::None {
        String::new()
    } else {
        limit
    };
    let mirror = if o.mirror_groups {
        "groups mirrored"
    } else {
        "groups not mirrored"
    };
    let principals = if o.include_service_principals {
        "users and service principals"
    } else {
        "users only"
    };
    format!(
        "{principals}; {deprovision}{limit}; {mirror}; marker group {:?}; {} nested groups",
        o.managed_group,
        if o.nested { "with" } else { "without" }
    )
}

fn sync(args: &SyncArgs) -> ExitCode {
    telemetry::init(Mode::Cli);
    let settings = match settings_or_report() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let (_, config) = match load_config(&settings, args.config.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let runner = match azure_runner(&settings, config) {
        Ok((runner, _)) => runner,
        Err(e) => {
            eprintln!("handler: {e}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let request = RunRequest {
        trigger: Trigger::Cli,
        invocation_id: None,
        workspaces: args.workspaces.clone(),
        dry_run: args.dry_run,
        allow_deprovision: args.allow_deprovision,
    };
    let result = match runtime() {
        Ok(rt) => rt.block_on(runner.run(request, true)),
        Err(e) => {
            eprintln!("handler: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match result {
        Ok(report) => report,
        Err(
            e @ (RunError::UnknownWorkspaces { .. }
            | RunError::Busy(_)
            | RunError::BusyElsewhere { .. }),
        ) => {
            eprintln!("handler: {e}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match args.output {
        Output::Json => {
            // Streamed, not built as one string first: a large first sync's report is big.
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut out, &*report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                eprintln!("handler: cannot write the report as JSON: {e}");
            }
        }
        Output::Text => print!("{}", text_report(&report)),
    }
    if report.status == Status::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The human form of a report.
pub fn text_report(report: &Report) -> String {
    let mut out = format!(
        "run {} ({}{}) {} in {} ms\n",
        report.run_id,
        report.trigger,
        if report.dry_run { ", dry run" } else { "" },
        report.status.as_str(),
        report.duration_ms
    );
    for ws in &report.workspaces {
        out.push_str("  ");
        out.push_str(&ws.summary_line());
        out.push('\n');
    }
    out
}

/// The Functions host's custom handler. Binds only once the state is ready; a configuration problem
/// does not stop it (every invocation then answers the problem), a missing port does.
fn serve() -> ExitCode {
    telemetry::init(Mode::Serve);
    let port = match handler_port(|name| std::env::var(name).ok()) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("handler: {e}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("handler: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let app = match Application::bind(port, startup_state()).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("handler: cannot listen on 127.0.0.1:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(port, "handler ready on 127.0.0.1:{port}");
        let signal = Arc::new(AtomicU8::new(0));
        match app.run_until(stop_signal(Arc::clone(&signal))).await {
            Err(e) => {
                tracing::error!("the server stopped: {e}");
                ExitCode::FAILURE
            }
            // Stopped by a signal: exit as a signalled process would (128 + n), never 0.
            Ok(()) => ExitCode::from(128 + signal.load(Ordering::SeqCst).max(1)),
        }
    })
}

/// The production runner: the engine with the credential chosen from the settings (and said once), and
/// the shared state in the app's storage account when the settings name one; with `NOTIFICATION_URL`,
/// the change notifications' notifier (which needs that shared state for its queue and registry).
fn azure_runner(
    settings: &Settings,
    config: Config,
) -> Result<(Runner, Option<Arc<Notifier>>), String> {
    let identity = crate::auth::identity(settings)?;
    tracing::info!(
        "authenticating as the {}, because {}",
        identity.name,
        identity.reason
    );
    let engine: Arc<dyn Engine> =
        Arc::new(AzureEngine::new(settings, &identity).map_err(|e| e.to_string())?);
    let config = Arc::new(config);
    let runner = Runner::new(Arc::clone(&config), engine);
    let store = match &settings.storage {
        SharedStorage::Account {
            blob_endpoint,
            queue_endpoint,
            setting,
        } => {
            let store = StateStore::new(
                blob_endpoint,
                queue_endpoint,
                Arc::clone(&identity.credential),
                instance_name(),
            )
            .map_err(|e| e.to_string())?;
            tracing::info!(
                "runs coordinate with other instances through {blob_endpoint} ({setting}): a lease \
                 per workspace, the last reports"
            );
            store
        }
        SharedStorage::Off(why) => {
            tracing::warn!(
                "runs coordinate within this process only and reports are kept in memory: {why}"
            );
            if settings.notifications.is_some() {
                return Err(format!(
                    "change notifications (NOTIFICATION_URL) need the app's storage account for their \
                     work queue and registry, and it is not usable: {why}"
                ));
            }
            return Ok((runner, None));
        }
    };
    let notifier = match &settings.notifications {
        None => None,
        Some(notifications) => {
            let client = crate::http::client().map_err(|e| e.to_string())?;
            let graph = crate::entra::Graph::new(
                client,
                &settings.graph_endpoint,
                Arc::clone(&identity.credential),
            );
            tracing::info!(
                "change notifications from Microsoft Graph at {} (subscriptions of {} minutes)",
                notifications.shown_url(),
                notifications.lifetime_minutes
            );
            Some(Arc::new(Notifier::new(
                notifications.clone(),
                graph,
                crate::keyvault::Secrets::new(Arc::clone(&identity.credential)),
                Arc::clone(&store),
                config,
            )))
        }
    };
    Ok((runner.with_state(store), notifier))
}

/// This process in a lease holder's name: the App Service instance, else host name and process id.
fn instance_name() -> String {
    if let Ok(id) = std::env::var("WEBSITE_INSTANCE_ID")
        && !id.trim().is_empty()
    {
        return id.trim().to_owned();
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host} pid {}", std::process::id())
}

/// Settings and configuration, read once: a runner, or every problem to answer invocations with.
fn startup_state() -> AppState {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(errors) => {
            return misconfigured(Misconfiguration {
                summary: "the app settings cannot be used".into(),
                problems: errors.iter().map(ToString::to_string).collect(),
            });
        }
    };
    match Config::load(&settings.config_path) {
        Ok(config) => {
            tracing::info!(
                config = %settings.config_path.display(),
                workspaces = config.workspaces.len(),
                "configuration loaded"
            );
            match azure_runner(&settings, config) {
                Ok((runner, notifier)) => AppState::ready(runner)
                    .with_notifier(notifier)
                    .with_timer_fanout(settings.timer_fanout),
                Err(e) => misconfigured(Misconfiguration {
                    summary: "the app cannot authenticate".into(),
                    problems: vec![e],
                }),
            }
        }
        Err(e) => misconfigured(Misconfiguration {
            summary: format!(
                "the configuration file {} cannot be used",
                settings.config_path.display()
            ),
            problems: e.problems(),
        }),
    }
}

fn misconfigured(m: Misconfiguration) -> AppState {
    tracing::error!(
        "{}; every invocation will fail until it is fixed:\n  - {}",
        m.summary,
        m.problems.join("\n  - ")
    );
    AppState::misconfigured(m)
}

async fn stop_signal(signal: Arc<AtomicU8>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal as listen};
        let (Ok(mut term), Ok(mut int)) = (
            listen(SignalKind::terminate()),
            listen(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        let number = tokio::select! {
            _ = term.recv() => 15,
            _ = int.recv() => 2,
        };
        signal.store(number, Ordering::SeqCst);
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        signal.store(2, Ordering::SeqCst);
    }
}
