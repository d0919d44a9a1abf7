//! `cargo run --release -p sandbox -- latency`: how long a change in Entra takes to reach Databricks
//! through change notifications, end to end on this machine: the real `handler` under the local
//! Functions host, Azurite for storage, the Graph emulator delivering notifications to the app's public
//! URL through the world's proxy, every emulated request slowed by `--latency-ms`.
//!
//! Phases: `SyncSubscriptions` once, a full sync (`SyncHttp`) so every workspace is in step; then
//! `--changes` changes, each a new user added to one workspace's group (round robin over the
//! workspaces, `--spacing-ms` apart), each timed from the Graph emulator's change to the last SCIM write
//! for it (the user in the workspace's marker group, polled every 5 ms); then one change alone, whose
//! queued sync's requests are compared with the least that sync needs (per API, as `bench`'s minimum
//! counts it: Graph one look-up and one page per 999 members, Key Vault one read, the workspace one
//! page of users per 10,000, the marker group, the user's POST and the marker's PATCH); then a burst
//! of 50 notifications at once for one workspace, whose syncs are counted. Graph's own notification
//! delay, which Microsoft does not document, is not in these numbers. `--check` fails on the counts
//! (requests over 1.05 × the minimum, more than 2 syncs for the burst, a change never arriving), never
//! on times: CI machines are too noisy for that.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::graph::NewUser;
use crate::host::{HostOptions, InvocationRecord, LocalHost, Output};
use crate::world::{Workspace, World};

#[derive(Debug, Clone, clap::Args)]
pub struct LatencyArgs {
    /// The handler to run (default: build it, like the demo)
    #[arg(long)]
    pub handler: Option<PathBuf>,
    /// Databricks workspaces, each reading its own Entra group
    #[arg(long, default_value_t = 5)]
    pub workspaces: usize,
    /// Membership changes timed, spread round robin over the workspaces
    #[arg(long, default_value_t = 50)]
    pub changes: usize,
    /// Members of each workspace's group before the changes
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Latency added to every emulated request (Graph, Key Vault, identity, SCIM), milliseconds
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// Time between two changes, milliseconds
    #[arg(long, default_value_t = 400)]
    pub spacing_ms: u64,
    /// Exit non-zero when a count misses its target (times are printed, never judged)
    #[arg(long)]
    pub check: bool,
}

const APP: &str = "func-dbx-latency";
const KEY: &str = "bench-notify-key";
const MARKER: &str = "entra-sync-managed";
/// How long one change may take before it counts as never arriving.
const GIVE_UP: Duration = Duration::from_secs(60);

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("latency: {what}: {e}");
    ExitCode::FAILURE
}

/// Whether `user` is in `workspace` and in its marker group.
fn arrived(workspace: &Workspace, user: &str) -> bool {
    let Some(id) = (workspace.scim.users().into_iter())
        .find(|u| u.user_name.eq_ignore_ascii_case(user))
        .map(|u| u.id)
    else {
        return false;
    };
    (workspace.scim.groups().into_iter())
        .find(|g| g.display_name == MARKER)
        .is_some_and(|g| g.members.contains(&id))
}

async fn wait_arrival(workspace: Workspace, user: String, started: Instant) -> Option<Duration> {
    while started.elapsed() < GIVE_UP {
        if arrived(&workspace, &user) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs the latency benchmark.
pub async fn run(args: LatencyArgs) -> ExitCode {
    let handler = match &args.handler {
        Some(path) => path.clone(),
        None => match crate::demo::app::build_handler() {
            Ok(path) => path,
            Err(e) => return fail("cannot build handler", e),
        },
    };
    let world = match World::start().await {
        Ok(world) => world,
        Err(e) => return fail("cannot start the world", e),
    };
    if let Err(e) = world.add_storage().await {
        return fail("cannot start Azurite", e);
    }
    let latency = Duration::from_millis(args.latency_ms);
    world.tenant.faults().set_latency(latency);
    world.vault.faults().set_latency(latency);
    world.identity.faults().set_latency(latency);
    let mut workspaces = Vec::new();
    let mut groups = Vec::new();
    let mut entries = Vec::new();
    for w in 0..args.workspaces {
        let group = world.tenant.add_group(&format!("Latency-Group-{w}"));
        for u in 0..args.users {
            let name = format!("u{u}.w{w}@contoso.com");
            let user = world.tenant.add_user(NewUser::member(&name, &name));
            world.tenant.add_member(&group, &user);
        }
        let workspace = match world.add_workspace(&format!("ws-{w}")).await {
            Ok(ws) => ws,
            Err(e) => return fail("cannot add a workspace", e),
        };
        workspace.scim.faults().set_latency(latency);
        entries.push(World::config_entry(
            &workspace,
            &[&format!("Latency-Group-{w}")],
        ));
        workspaces.push(workspace);
        groups.push(group);
    }
    let client_state = format!("cs-{}", uuid::Uuid::new_v4().simple());
    world.vault.set_secret("notify-client-state", &client_state);
    let config = json!({ "workspaces": entries });
    let app = match crate::demo::app::stage(&handler, &config) {
        Ok(dir) => dir,
        Err(e) => return fail("cannot stage the app", e),
    };
    let mut settings = world.handler_env();
    settings.extend(
        [
            ("FUNCTIONS_WORKER_RUNTIME", "custom".to_owned()),
            ("SYNC_SCHEDULE", "0 0 0 1 1 *".to_owned()),
            ("SUBSCRIPTION_SCHEDULE", "0 0 0 1 1 *".to_owned()),
            ("SYNC_CONFIG_PATH", "sync-config.json".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
            (
                "NOTIFICATION_URL",
                format!("https://{APP}.azurewebsites.net/api/SyncNotify?code={KEY}"),
            ),
            (
                "NOTIFICATION_CLIENT_STATE",
                format!("{}/secrets/notify-client-state", world.vault.vault_url()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let (output, _lines) = Output::capture();
    let options = HostOptions {
        port: 0,
        settings,
        env_remove: World::ENV_TO_CLEAR
            .iter()
            .map(|v| (*v).to_owned())
            .collect(),
        output,
        ..HostOptions::new(app.path())
    };
    let host = match LocalHost::start(options).await {
        Ok(host) => host,
        Err(e) => return fail("cannot start the local host", e),
    };
    if let Err(e) = world.expose_app(APP, host.addr()).await {
        return fail("cannot expose the app", e);
    }
    match host.invoke_timer("SyncSubscriptions").await {
        Ok(record) if record.succeeded => println!("subscriptions: {}", record.logs.join("; ")),
        Ok(record) => return fail("SyncSubscriptions failed", format!("{:?}", record.error)),
        Err(e) => return fail("SyncSubscriptions", e),
    }
    let full = reqwest::Client::new()
        .post(format!("{}/api/SyncHttp", host.url()))
        .json(&json!({}))
        .send()
        .await;
    match full {
        Ok(answer) if answer.status().is_success() => {}
        Ok(answer) => return fail("the first full sync", answer.status()),
        Err(e) => return fail("the first full sync", e),
    }
    println!(
        "{} workspaces of {} users in step; {} changes, {} ms apart, {} ms per emulated request",
        args.workspaces, args.users, args.changes, args.spacing_ms, args.latency_ms
    );

    // The timed changes.
    let mut watchers = Vec::new();
    for k in 0..args.changes {
        let w = k % args.workspaces.max(1);
        let name = format!("change{k}.w{w}@contoso.com");
        let user = world.tenant.add_user(NewUser::member(&name, &name));
        let started = Instant::now();
        world.tenant.add_member(&groups[w], &user);
        watchers.push(tokio::spawn(wait_arrival(
            workspaces[w].clone(),
            name,
            started,
        )));
        tokio::time::sleep(Duration::from_millis(args.spacing_ms)).await;
    }
    let mut times = Vec::new();
    let mut missed = 0usize;
    for watcher in watchers {
        match watcher.await {
            Ok(Some(t)) => times.push(t),
            _ => missed += 1,
        }
    }
    times.sort();
    let (p50, p95, max) = (
        percentile(&times, 50.0),
        percentile(&times, 95.0),
        times.last().copied().unwrap_or_default(),
    );
    println!(
        "change → last SCIM write: p50 {} ms, p95 {} ms, max {} ms over {} changes ({} never arrived)",
        ms(p50),
        ms(p95),
        ms(max),
        times.len(),
        missed
    );

    // One change alone: its sync's requests against the minimum.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let name = "alone.w0@contoso.com".to_owned();
    let user = world.tenant.add_user(NewUser::member(&name, &name));
    let since = time::OffsetDateTime::now_utc();
    world.tenant.add_member(&groups[0], &user);
    let alone = wait_arrival(workspaces[0].clone(), name, Instant::now()).await;
    // The report of the sync that started after this change (not one still finishing before it).
    let mut seen = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        seen = match reqwest::get(format!("{}/api/SyncHttp", host.url())).await {
            Ok(answer) => answer.json().await.unwrap_or(Value::Null),
            Err(e) => return fail("GET /api/SyncHttp", e),
        };
        let started = seen["workspaces"]["ws-0"]["startedAt"]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            });
        if started.is_some_and(|t| t >= since) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = &seen["workspaces"]["ws-0"]["report"];
    let members = args.users + args.changes.div_ceil(args.workspaces.max(1)) + 1;
    let minimum = json!({
        "graph": 1 + members.div_ceil(999).max(1),
        "keyVault": 1,
        "databricks": members.div_ceil(10_000).max(1) + 1 + 2,
    });
    let mut ratios = Vec::new();
    for api in ["graph", "keyVault", "databricks"] {
        let sent = report["requests"][api].as_u64().unwrap_or(0);
        let least = minimum[api].as_u64().unwrap_or(1).max(1);
        ratios.push((api, sent, least, sent as f64 / least as f64));
    }
    println!(
        "one change alone ({} ms): {}",
        alone.map_or(u64::MAX, ms),
        (ratios.iter())
            .map(|(api, sent, least, r)| format!("{api} {sent} / {least} ({r:.2} ×)"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // A burst: 50 notifications at once for one workspace's group.
    let target = args.workspaces.min(2).saturating_sub(1);
    let subscription = (world.tenant.subscriptions().into_iter())
        .find(|s| s.group_id == groups[target])
        .map(|s| s.id);
    let before = syncs_of(&host.invocations(), target);
    if let Some(subscription) = subscription {
        let item = json!({
            "subscriptionId": subscription,
            "clientState": client_state,
            "changeType": "updated",
            "resource": format!("Groups/{}", groups[target]),
            "tenantId": crate::identity::TENANT_ID,
        });
        let client = reqwest::Client::new();
        let posts = (0..50).map(|_| {
            client
                .post(format!("{}/api/SyncNotify?code={KEY}", host.url()))
                .json(&json!({ "value": [item.clone()] }))
                .send()
        });
        futures::future::join_all(posts).await;
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let burst = syncs_of(&host.invocations(), target) - before;
    println!("50 notifications at once for ws-{target}: {burst} sync(s)");

    let requests_ok = ratios.iter().all(|(_, _, _, r)| *r <= 1.05);
    let result = json!({
        "changes": times.len(), "missed": missed,
        "p50Ms": ms(p50), "p95Ms": ms(p95), "maxMs": ms(max),
        "latencyMs": args.latency_ms, "workspaces": args.workspaces, "users": args.users,
        "requests": ratios.iter().map(|(api, sent, least, _)| json!({"api": api, "sent": sent, "minimum": least})).collect::<Vec<_>>(),
        "burstSyncs": burst,
    });
    println!("{result}");
    host.stop().await;
    let counts_ok = missed == 0 && requests_ok && burst <= 2 && alone.is_some();
    if args.check && !counts_ok {
        eprintln!(
            "latency: a count missed its target (missed changes, requests over 1.05 × the minimum, or more than 2 syncs for the burst)"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Succeeded `SyncQueue` invocations that synced workspace `ws-{index}`.
fn syncs_of(invocations: &[InvocationRecord], index: usize) -> usize {
    let prefix = format!("ws-{index}:");
    invocations
        .iter()
        .filter(|i| i.function == "SyncQueue")
        .filter(|i| i.logs.iter().any(|l| l.starts_with(&prefix)))
        .count()
}
