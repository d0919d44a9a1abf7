//! `cargo run --release -p sandbox -- bench`: what a sync costs at scale, against the limit the APIs set.
//! Generates an organisation ([`model`]), seeds the emulated world with it, adds a latency to every
//! emulated request and a write rate per workspace (429 + `Retry-After` beyond it), and runs the real
//! `handler sync` as a separate process ([`process`]) for three phases: the initial sync, a steady-state
//! sync with nothing changed, and an incremental sync after a share of the memberships changed. Each
//! phase is measured against the least the work needs ([`minimum`], [`measure`]); then `handler serve`
//! is timed to its first answer; with `--account-mode` the same phases run again in account mode
//! (`identities: "account"`, `mirrorGroups`) on a fresh world of the same organisation whose workspaces
//! are federated into one emulated Databricks account; and optionally the initial sync is repeated
//! under a time budget (`SYNC_MAX_RUN_SECONDS`). Results go to stdout,
//! `target/bench/<timestamp>.json` and a Markdown section appended to `BENCHMARKS.md` ([`output`]).

pub mod latency;
mod measure;
pub mod minimum;
pub mod model;
mod output;
mod process;

pub use process::{ProbeArgs, probe};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::account::{Account, RateLimits};
use crate::identity::SYSTEM_IDENTITY;
use crate::world::{Workspace, World};
use measure::{Before, Phase};
use minimum::{Limits, Pace, Work};
use model::{Model, Size};
use process::Launch;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// People in the generated tenant
    #[arg(long, default_value_t = 20_000)]
    pub users: usize,
    /// Entra groups (nested and overlapping)
    #[arg(long, default_value_t = 20)]
    pub groups: usize,
    /// Databricks workspaces
    #[arg(long, default_value_t = 5)]
    pub workspaces: usize,
    /// Latency added to every emulated request (Graph, Key Vault, identity, SCIM), milliseconds
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// SCIM writes per second each workspace accepts (429 + Retry-After beyond); the handler's
    /// scimRequestsPerSecond is set to the same value
    #[arg(long, default_value_t = 100.0)]
    pub scim_write_rate: f64,
    /// Instead: each workspace throttles every SCIM request, reads included, at this rate (429 +
    /// Retry-After beyond), and the handler runs with its default configuration (no
    /// scimRequestsPerSecond): its adaptive pace under test
    #[arg(long, value_name = "PER_SECOND")]
    pub scim_throttle_rate: Option<f64>,
    /// --scim-throttle-rate at Databricks' documented workspace SCIM limit, 255 requests a minute
    #[arg(long, conflicts_with = "scim_throttle_rate")]
    pub throttle_at_documented_limit: bool,
    /// Steady-state runs (nothing changed); the target is judged on their median wall time
    #[arg(long, default_value_t = 3)]
    pub steady_runs: usize,
    /// Share of the direct memberships changed before the incremental phase, percent
    #[arg(long, default_value_t = 1.0)]
    pub change_percent: f64,
    /// Seed of the generated organisation
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Starts of `handler serve` timed to their first answer (0: skip)
    #[arg(long, default_value_t = 15)]
    pub ready_starts: usize,
    /// Also run the budget phase: the initial sync again and again with SYNC_MAX_RUN_SECONDS set
    #[arg(long, value_name = "SECONDS")]
    pub budget_seconds: Option<u64>,
    /// Most runs of the budget phase
    #[arg(long, default_value_t = 10)]
    pub budget_max_runs: usize,
    /// Use this handler binary instead of building it
    #[arg(long, value_name = "PATH")]
    pub handler: Option<PathBuf>,
    /// Append the Markdown table to this file [default: BENCHMARKS.md at the repository root]
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Do not append to any Markdown file
    #[arg(long)]
    pub no_markdown: bool,
    /// Exit 1 when a phase's requests exceed the target ratio to the minimum (request counts only,
    /// never times)
    #[arg(long)]
    pub check: bool,
    /// With --check: report this API's ratio but do not fail on it (repeatable; for an excess whose
    /// cause is known and tracked, e.g. keyVault)
    #[arg(long, value_name = "API")]
    pub tolerate: Vec<String>,
    /// Also run the phases in account mode: the same organisation on a fresh world, every workspace
    /// with identities "account" and mirrorGroups, federated into one emulated Databricks account that
    /// accepts --scim-write-rate PATCHes and as many POST/PUT/DELETEs per second (reads unlimited);
    /// the handler's account.requestsPerSecond is set to the same rates (reads at 1000/s)
    #[arg(long, conflicts_with_all = ["scim_throttle_rate", "throttle_at_documented_limit"])]
    pub account_mode: bool,
    /// Only the account-mode phases (implies --account-mode): no workspace-mode phases, no timed
    /// starts; for measuring account mode alone
    #[arg(long, conflicts_with_all = ["scim_throttle_rate", "throttle_at_documented_limit"])]
    pub account_only: bool,
}

/// Databricks' documented workspace SCIM limit, 255 requests a minute: the handler's default
/// `scimRequestsPerSecond` (docs/api-contract.md, "Pace").
pub const DOCUMENTED_SCIM_RATE: f64 = 255.0 / 60.0;

impl BenchArgs {
    /// The rate every workspace throttles all SCIM requests at, if the throttle is under test.
    pub fn throttle_rate(&self) -> Option<f64> {
        if self.throttle_at_documented_limit {
            Some(DOCUMENTED_SCIM_RATE)
        } else {
            self.scim_throttle_rate
        }
    }

    /// The rate the bound is computed at: the throttle's, or the write rate.
    fn rate(&self) -> f64 {
        self.throttle_rate().unwrap_or(self.scim_write_rate)
    }

    /// The handler's `scimRequestsPerSecond`: its default under a throttle, else the write rate.
    fn handler_rate(&self) -> f64 {
        if self.throttle_rate().is_some() {
            DOCUMENTED_SCIM_RATE
        } else {
            self.scim_write_rate
        }
    }
}

/// Requests may exceed the minimum by this factor.
pub const REQUEST_RATIO_TARGET: f64 = 1.05;
/// The initial sync may take this factor of the time bound.
pub const TIME_RATIO_TARGET: f64 = 1.25;
/// Steady state with nothing changed, seconds.
pub const STEADY_TARGET_SECONDS: f64 = 2.0;
/// Steady state with nothing changed in account mode, seconds (issue 17).
pub const ACCOUNT_STEADY_TARGET_SECONDS: f64 = 1.0;
/// Peak resident set size of the handler, MiB.
pub const RSS_TARGET_MIB: f64 = 64.0;
/// From spawn to the first answer of `handler serve`, milliseconds.
pub const READY_TARGET_MS: f64 = 50.0;

/// The account's reads are unlimited in the bench: the handler's account pace for GET and LIST, the
/// highest `requestsPerSecond` allowed.
const READ_RATE: f64 = 1000.0;

/// The deprovisioning mode the bench configures (so the incremental phase deactivates leavers).
const DEPROVISION: bool = true;

/// The emulated Databricks account of the account-mode phases.
const ACCOUNT_ID: &str = "5e1c0a7b-3d2f-4b6a-9c8e-0f1a2b3c4d5e";
/// The account's read limits in the bench: none to speak of (as the workspaces', which limit writes
/// only).
const UNLIMITED: f64 = 1e9;

/// Where the handler's identities live in a bench world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `identities: "workspace"` (the default): each workspace its own SCIM.
    Workspace,
    /// `identities: "account"` with `mirrorGroups`: one emulated account, every workspace federated.
    Account,
}

fn fail(what: &str, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("sandbox bench: {what}: {error}");
    ExitCode::FAILURE
}

/// The parameters of a run, as recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameters {
    pub users: usize,
    pub groups: usize,
    pub workspaces: usize,
    pub latency_ms: u64,
    pub scim_write_rate: f64,
    /// Every SCIM request throttled at this rate (the handler then runs with its default pace).
    pub scim_throttle_rate: Option<f64>,
    /// The handler's `scimRequestsPerSecond` (= the write rate; its default under a throttle).
    pub scim_requests_per_second: f64,
    pub change_percent: f64,
    pub seed: u64,
    pub limits: Limits,
    pub desired_per_workspace: Vec<usize>,
    pub memberships: usize,
    pub profile: String,
    /// The account-mode phases ran too.
    pub account_mode: bool,
    /// Distinct desired users over every workspace: what account mode creates once each.
    pub distinct_desired: usize,
}

/// One run of the budget phase.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetRun {
    pub run: usize,
    pub status: String,
    pub wall_seconds: f64,
    pub writes: usize,
    pub remaining_writes: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    pub starts: usize,
    pub median_ms: f64,
    pub max_ms: f64,
}

/// Everything one bench run measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub started_at: String,
    pub parameters: Parameters,
    pub phases: Vec<Phase>,
    pub ready: Option<Ready>,
    pub budget_seconds: Option<u64>,
    pub budget: Vec<BudgetRun>,
}

/// A seeded world and what runs the handler in it.
struct Bench {
    world: World,
    workspaces: Vec<Workspace>,
    model: Model,
    launch: Launch,
    /// Every SCIM request throttled at this rate: reset before each phase, so each phase's 429s and
    /// episodes are its own (and each run starts with a full bucket, as after a pause between runs).
    throttle: Option<f64>,
    /// Account mode: the emulated account every workspace is federated into.
    account: Option<Account>,
    _app_root: tempfile::TempDir,
}

impl Bench {
    async fn start(args: &BenchArgs, handler: &Path, mode: Mode) -> std::io::Result<Bench> {
        let mut model = Model::generate(&size(args));
        let world = World::start().await?;
        let workspaces = model.apply(&world).await?;
        let account = match mode {
            Mode::Workspace => None,
            Mode::Account => Some(account(&world, &workspaces, args).await?),
        };
        let latency = Duration::from_millis(args.latency_ms);
        world.tenant.faults().set_latency(latency);
        world.vault.faults().set_latency(latency);
        world.identity.faults().set_latency(latency);
        for w in &workspaces {
            w.scim.faults().set_latency(latency);
            match args.throttle_rate() {
                Some(rate) => w.scim.set_request_rate(Some(rate)),
                None => w.scim.set_write_rate(Some(args.scim_write_rate)),
            }
            // Databricks answers a successful PATCH without a body (the Go SDK's Patch returns no
            // value); the 200-with-resource form would make every marker-group PATCH echo all members.
            w.scim.set_patch_answers_204(true);
        }
        let app_root = tempfile::tempdir()?;
        let handler_rate = args
            .throttle_rate()
            .is_none()
            .then_some(args.scim_write_rate);
        let mut config = config(&model, &workspaces, handler_rate);
        if mode == Mode::Account {
            in_account_mode(&mut config, args.scim_write_rate);
        }
        std::fs::write(
            app_root.path().join("sync-config.json"),
            serde_json::to_string_pretty(&config).map_err(std::io::Error::other)?,
        )?;
        let mut env = world.handler_env();
        env.push(("RUST_LOG".to_owned(), "info".to_owned()));
        let launch = Launch {
            handler: handler.to_path_buf(),
            app_root: app_root.path().to_path_buf(),
            env,
        };
        Ok(Bench {
            world,
            workspaces,
            model,
            launch,
            throttle: args.throttle_rate(),
            account,
            _app_root: app_root,
        })
    }

    fn work(&self) -> Work {
        match &self.account {
            None => Work::Workspaces(measure::work(&self.model, &self.workspaces, DEPROVISION)),
            Some(account) => Work::Account(measure::account_work(
                &self.model,
                &self.workspaces,
                account,
                DEPROVISION,
            )),
        }
    }

    /// Runs `handler sync` once with `extra` variables and measures it as the phase `name`.
    async fn phase(
        &self,
        name: &str,
        extra: Vec<(String, String)>,
        out_dir: &Path,
        pace: &Pace,
    ) -> std::io::Result<Phase> {
        let limits = Limits::default();
        let before = Before {
            name: name.to_owned(),
            work: self.work(),
        };
        let account = self.account.as_ref();
        measure::clear_logs(&self.world, &self.workspaces, account);
        if let Some(rate) = self.throttle {
            for w in &self.workspaces {
                w.scim.set_request_rate(Some(rate));
            }
        }
        let launch = self.launch.clone();
        let stderr = out_dir.join(format!("handler-{}.log", name.replace(' ', "-")));
        let finished = tokio::task::spawn_blocking(move || launch.sync(&extra, &stderr))
            .await
            .map_err(std::io::Error::other)??;
        let logged = measure::counted(&self.world, &self.workspaces, account, finished.spawned);
        std::fs::write(
            out_dir.join(format!("requests-{}.jsonl", name.replace(' ', "-"))),
            &logged.lines,
        )?;
        let writes = measure::writes_done(&self.workspaces, account);
        let throttling = self.throttle.map(|_| measure::throttling(&self.workspaces));
        let after = self.work();
        let mut phase = measure::phase(before, &finished, logged, writes, &after, &limits, pace);
        phase.throttling = throttling;
        Ok(phase)
    }
}

/// The emulated account of account mode, every workspace registered in it (identity-federated), the
/// handler's identity an account admin; the same latency as every emulator, and the write rate under
/// test for PATCH and for POST/PUT/DELETE, each with its own bucket (the account documents a limit
/// per kind of call), reads unlimited.
async fn account(
    world: &World,
    workspaces: &[Workspace],
    args: &BenchArgs,
) -> std::io::Result<Account> {
    let account = world.add_account(ACCOUNT_ID).await?;
    account.admit_identity(SYSTEM_IDENTITY);
    for w in workspaces {
        account.add_workspace(w.workspace_id(), &w.scim);
    }
    account
        .faults()
        .set_latency(Duration::from_millis(args.latency_ms));
    // As the workspaces: a PATCH of the marker group would otherwise echo every member.
    account.set_patch_answers_204(true);
    account.set_rate_limits(Some(RateLimits {
        get: UNLIMITED,
        list: UNLIMITED,
        patch: args.scim_write_rate,
        write: args.scim_write_rate,
    }));
    Ok(account)
}

/// Turns the bench's configuration into account mode: the account (its pace set to what the emulated
/// account accepts: writes and PATCHes at the write rate under test, as `scimRequestsPerSecond` is in
/// workspace mode, reads at the highest rate the configuration allows, the account's reads being
/// unlimited) and, for every workspace, `identities: "account"` and `mirrorGroups` (so each
/// workspace is assigned its groups).
fn in_account_mode(config: &mut Value, rate: f64) {
    config["account"] = json!({
        "accountId": ACCOUNT_ID,
        "requestsPerSecond": {"get": READ_RATE, "list": READ_RATE, "patch": rate, "write": rate},
    });
    let defaults = &mut config["defaults"];
    if let Some(defaults) = defaults.as_object_mut() {
        defaults.remove("scimRequestsPerSecond");
    }
    defaults["identities"] = json!("account");
    defaults["mirrorGroups"] = json!(true);
}

fn size(args: &BenchArgs) -> Size {
    Size {
        users: args.users,
        groups: args.groups,
        workspaces: args.workspaces,
        seed: args.seed,
    }
}

/// The configuration the handler runs with: the seed's keys per workspace, and defaults that set the
/// client-side rate to the write rate under test (none under a throttle: the handler's default) and
/// deactivate leavers (never held: 100%).
fn config(model: &Model, workspaces: &[Workspace], rate: Option<f64>) -> Value {
    let entries: Vec<Value> = model
        .workspaces
        .iter()
        .zip(workspaces)
        .map(|(spec, w)| {
            let groups: Vec<&str> = spec
                .groups
                .iter()
                .map(|&k| model.groups[k].name.as_str())
                .collect();
            World::config_entry(w, &groups)
        })
        .collect();
    let mut defaults = json!({ "deprovision": "deactivate", "maxDeprovision": "100%" });
    if let Some(rate) = rate {
        defaults["scimRequestsPerSecond"] = json!(rate);
    }
    json!({ "defaults": defaults, "workspaces": entries })
}

fn out_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("bench")))
        .unwrap_or_else(|| PathBuf::from("target/bench"))
}

fn profile() -> String {
    let release = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.file_name()? == "release"))
        .unwrap_or(false);
    if release { "release" } else { "debug" }.to_owned()
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> ExitCode {
    if !(args.scim_write_rate > 0.0 && args.scim_write_rate <= 1000.0) {
        return fail(
            "--scim-write-rate",
            "must be above 0 and at most 1000 (the handler's highest scimRequestsPerSecond)",
        );
    }
    if args
        .throttle_rate()
        .is_some_and(|rate| !(rate > 0.0 && rate <= 1000.0))
    {
        return fail("--scim-throttle-rate", "must be above 0 and at most 1000");
    }
    let handler = match &args.handler {
        // Absolute: the handler runs in its own app folder.
        Some(path) => match std::fs::canonicalize(path) {
            Ok(path) => path,
            Err(e) => return fail(&format!("--handler {}", path.display()), e),
        },
        None => match crate::demo::app::build_handler() {
            Ok(path) => path,
            Err(e) => return fail("cannot build the handler", e),
        },
    };
    let started_at = output::timestamp();
    let out = out_dir();
    if let Err(e) = std::fs::create_dir_all(&out) {
        return fail(&format!("cannot create {}", out.display()), e);
    }
    let logs = out.join(&started_at);
    if let Err(e) = std::fs::create_dir_all(&logs) {
        return fail(&format!("cannot create {}", logs.display()), e);
    }
    let limit = match args.throttle_rate() {
        Some(rate) => format!("every SCIM request throttled at {rate:.3}/s per workspace"),
        None => format!("{} SCIM writes/s per workspace", args.scim_write_rate),
    };
    println!(
        "Generating {} people in {} groups, {} workspaces; latency {} ms, {limit} \
         (handler scimRequestsPerSecond = {:.3})...",
        args.users,
        args.groups,
        args.workspaces,
        args.latency_ms,
        args.handler_rate()
    );
    let mut bench = match Bench::start(&args, &handler, Mode::Workspace).await {
        Ok(bench) => bench,
        Err(e) => return fail("cannot start the emulated world", e),
    };
    let parameters = Parameters {
        users: args.users,
        groups: args.groups,
        workspaces: args.workspaces,
        latency_ms: args.latency_ms,
        scim_write_rate: args.scim_write_rate,
        scim_throttle_rate: args.throttle_rate(),
        scim_requests_per_second: args.handler_rate(),
        change_percent: args.change_percent,
        seed: args.seed,
        limits: Limits::default(),
        desired_per_workspace: bench
            .model
            .workspaces
            .iter()
            .map(|w| bench.model.desired(w).len())
            .collect(),
        memberships: bench.model.memberships(),
        profile: profile(),
        account_mode: args.account_mode || args.account_only,
        distinct_desired: (bench.model.workspaces.iter())
            .flat_map(|w| bench.model.desired(w))
            .collect::<std::collections::BTreeSet<String>>()
            .len(),
    };
    let pace = Pace {
        latency: args.latency_ms as f64 / 1000.0,
        write_rate: args.rate(),
        reads_too: args.throttle_rate().is_some(),
    };
    let mut phases = if args.account_only {
        Vec::new()
    } else {
        match phases(&mut bench, "", &args, &logs, &pace).await {
            Ok(phases) => phases,
            Err(code) => return code,
        }
    };
    let ready = if args.ready_starts > 0 && !args.account_only {
        println!("Timing {} starts of handler serve...", args.ready_starts);
        let launch = bench.launch.clone();
        let starts = args.ready_starts;
        match tokio::task::spawn_blocking(move || launch.ready_times(starts)).await {
            Ok(Ok(times)) => Some(output::ready(&times)),
            Ok(Err(e)) => return fail("handler serve", e),
            Err(e) => return fail("handler serve", e),
        }
    } else {
        None
    };
    drop(bench);
    if args.account_mode || args.account_only {
        println!(
            "Account mode: the same organisation on a fresh world, every workspace federated into one \
             account (identities \"account\", mirrorGroups; account.requestsPerSecond: {}/s for \
             PATCHes and writes, 1000/s for reads)...",
            args.scim_write_rate
        );
        let mut bench = match Bench::start(&args, &handler, Mode::Account).await {
            Ok(bench) => bench,
            Err(e) => return fail("cannot start the account-mode world", e),
        };
        match self::phases(&mut bench, "account ", &args, &logs, &pace).await {
            Ok(more) => phases.extend(more),
            Err(code) => return code,
        }
    }
    let mut budget = Vec::new();
    if let Some(seconds) = args.budget_seconds {
        match budget_phase(&args, &handler, seconds, &logs, &pace).await {
            Ok(runs) => budget = runs,
            Err(e) => return fail("budget phase", e),
        }
    }
    let results = Results {
        started_at: started_at.clone(),
        parameters,
        phases,
        ready,
        budget_seconds: args.budget_seconds,
        budget,
    };
    print!("{}", output::text(&results));
    let json_path = out.join(format!("{started_at}.json"));
    match serde_json::to_string_pretty(&results) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&json_path, text) {
                return fail(&format!("cannot write {}", json_path.display()), e);
            }
            println!("Results: {}", json_path.display());
        }
        Err(e) => return fail("cannot serialise the results", e),
    }
    if !args.no_markdown {
        let path = args
            .markdown
            .clone()
            .unwrap_or_else(|| crate::demo::app::repo_root().join("BENCHMARKS.md"));
        if let Err(e) = output::append_markdown(&path, &results) {
            return fail(&format!("cannot append to {}", path.display()), e);
        }
        let shown = std::fs::canonicalize(&path).unwrap_or(path);
        println!("Appended to {}", shown.display());
    }
    if args.check {
        let mut over = Vec::new();
        for p in &results.phases {
            for (api, ratio) in &p.ratio_by_api {
                if *ratio <= REQUEST_RATIO_TARGET {
                    continue;
                }
                if args.tolerate.iter().any(|t| t.eq_ignore_ascii_case(api)) {
                    println!(
                        "{}: {api} at {ratio:.3} x the minimum, over {REQUEST_RATIO_TARGET} (tolerated)",
                        p.name
                    );
                } else {
                    over.push(format!(
                        "{}: {api} at {ratio:.3} x the minimum (target {REQUEST_RATIO_TARGET})",
                        p.name
                    ));
                }
            }
            if p.remaining_writes > 0 {
                over.push(format!(
                    "{}: {} writes left undone",
                    p.name, p.remaining_writes
                ));
            }
        }
        if !over.is_empty() {
            eprintln!(
                "sandbox bench: request counts over target:\n  {}",
                over.join("\n  ")
            );
            return ExitCode::FAILURE;
        }
        println!(
            "Request counts within {REQUEST_RATIO_TARGET} x the minimum in every phase (but what is tolerated)."
        );
    }
    ExitCode::SUCCESS
}

/// The initial sync, the steady runs and the incremental one (after the memberships changed), each
/// named with `prefix`.
async fn phases(
    bench: &mut Bench,
    prefix: &str,
    args: &BenchArgs,
    logs: &Path,
    pace: &Pace,
) -> Result<Vec<Phase>, ExitCode> {
    let mut phases = Vec::new();
    let mut names = vec!["initial".to_owned()];
    names.extend((1..=args.steady_runs.max(1)).map(|n| format!("steady {n}")));
    names.push("incremental".to_owned());
    for name in names {
        if name == "incremental" {
            let changed = bench.model.change_memberships(
                &bench.world,
                args.change_percent / 100.0,
                args.seed.wrapping_add(1),
            );
            println!("Changed {} memberships.", changed.len());
        }
        let name = format!("{prefix}{name}");
        println!("Phase {name}: running handler sync...");
        match bench.phase(&name, Vec::new(), logs, pace).await {
            Ok(phase) => {
                println!("{}", output::phase_line(&phase));
                phases.push(phase);
            }
            Err(e) => return Err(fail(&format!("phase {name}"), e)),
        }
    }
    Ok(phases)
}

/// A fresh world, synced again and again with `SYNC_MAX_RUN_SECONDS` until a run reports `succeeded`
/// (or `max_runs`, or a run that changed nothing).
async fn budget_phase(
    args: &BenchArgs,
    handler: &Path,
    seconds: u64,
    logs: &Path,
    pace: &Pace,
) -> std::io::Result<Vec<BudgetRun>> {
    let bench = Bench::start(args, handler, Mode::Workspace).await?;
    let extra = vec![("SYNC_MAX_RUN_SECONDS".to_owned(), seconds.to_string())];
    let mut runs = Vec::new();
    for run in 1..=args.budget_max_runs.max(1) {
        println!("Budget run {run} (SYNC_MAX_RUN_SECONDS={seconds})...");
        let phase = bench
            .phase(&format!("budget {run}"), extra.clone(), logs, pace)
            .await?;
        let done = BudgetRun {
            run,
            status: phase.status.clone(),
            wall_seconds: phase.wall_seconds,
            writes: phase.writes,
            remaining_writes: phase.remaining_writes,
        };
        println!(
            "  {} in {:.1} s: {} writes, {} left",
            done.status, done.wall_seconds, done.writes, done.remaining_writes
        );
        let stop = done.status == "succeeded" || done.writes == 0;
        runs.push(done);
        if stop {
            break;
        }
    }
    Ok(runs)
}
