//! What one phase measured, read from the emulators (request logs, workspace state) and the handler's
//! process, next to the minimum computed from the generated data.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::minimum::{
    self, AccountChanges, AccountDesired, AccountState, AccountWork, AccountWorkspace, Changes,
    Counts, GroupState, Limits, Pace, Present, RunWork, Work, WorkspaceState,
};
use super::model::Model;
use super::process::Finished;
use crate::account::Account;
use crate::faults::LoggedRequest;
use crate::scim::ThrottleStats;
use crate::world::{Workspace, World};

/// The marker group's name (the handler's default `managedGroup`).
pub const MARKER_GROUP: &str = "entra-sync-managed";
const ADMINS_GROUP: &str = "admins";

/// One workspace's state as its emulator holds it, and how many users it lists.
pub fn workspace_state(workspace: &Workspace) -> (usize, WorkspaceState) {
    let users = workspace.scim.user_states();
    let groups = workspace.scim.groups();
    let members = |name: &str| {
        groups
            .iter()
            .find(|g| g.display_name == name)
            .map(|g| g.members.iter().cloned().collect::<HashSet<String>>())
    };
    let mut protected = members(ADMINS_GROUP).unwrap_or_default();
    protected.insert(workspace.scim.admin_user_id());
    let state = WorkspaceState {
        users: users
            .iter()
            .map(|(id, name, active)| {
                (
                    name.clone(),
                    Present {
                        id: id.clone(),
                        active: *active,
                    },
                )
            })
            .collect(),
        marker: members(MARKER_GROUP),
        protected,
    };
    (users.len(), state)
}

/// The work a run of the handler has to do now, from the model and the emulators' state.
pub fn work(model: &Model, workspaces: &[Workspace], deprovision: bool) -> RunWork {
    let sizes: HashMap<usize, usize> = model
        .used_groups()
        .into_iter()
        .map(|k| (k, model.transitive_users(k).len()))
        .collect();
    let per_workspace = model
        .workspaces
        .iter()
        .zip(workspaces)
        .map(|(spec, workspace)| {
            let (listed, state) = workspace_state(workspace);
            minimum::WorkspaceWork {
                listed,
                changes: minimum::changes(&model.desired(spec), &state, deprovision),
                deprovision,
                group_sizes: spec.groups.iter().map(|k| sizes[k]).collect(),
            }
        })
        .collect();
    RunWork {
        distinct_group_sizes: sizes.into_values().collect(),
        secrets: workspaces.len(),
        // Every workspace token is in the world's one vault.
        vaults: 1,
        workspaces: per_workspace,
    }
}

/// The name of a workspace's record group at the account: `<managedGroup>-ws-<workspaceId>`.
pub fn record_group(workspace: &Workspace) -> String {
    format!("{MARKER_GROUP}-ws-{}", workspace.workspace_id())
}

/// The account as its emulator holds it.
pub fn account_state(account: &Account, workspaces: &[Workspace]) -> AccountState {
    let users = account.users();
    let groups: HashMap<String, GroupState> = (account.groups().into_iter())
        .map(|(id, name)| {
            let members = account.members(&id).into_iter().collect();
            (name, GroupState { id, members })
        })
        .collect();
    AccountState {
        principals: WorkspaceState {
            users: (users.into_iter())
                .map(|u| {
                    let present = Present {
                        id: u.id,
                        active: u.active,
                    };
                    (u.user_name, present)
                })
                .collect(),
            marker: groups.get(MARKER_GROUP).map(|g| g.members.clone()),
            // The bench makes no account admin.
            protected: HashSet::new(),
        },
        groups,
        assigned: (workspaces.iter())
            .map(|w| {
                let assigned = account.assignments(w.workspace_id());
                assigned.into_iter().map(|(id, _)| id).collect()
            })
            .collect(),
    }
}

/// What the account-mode workspaces want of the account: the distinct desired users, each mirrored
/// group (under its Entra name, the bench sets no `groupNames`) with its desired members.
pub fn account_desired(model: &Model, workspaces: &[Workspace]) -> AccountDesired {
    let used = model.used_groups();
    AccountDesired {
        users: (model.workspaces.iter())
            .flat_map(|spec| model.desired(spec))
            .collect(),
        groups: (used.iter())
            .map(|&k| {
                let members: BTreeSet<String> = (model.transitive_users(k).into_iter())
                    .filter_map(|i| model.user_name(i))
                    .collect();
                (model.groups[k].name.clone(), members)
            })
            .collect(),
        workspaces: (model.workspaces.iter())
            .zip(workspaces)
            .map(|(spec, w)| AccountWorkspace {
                groups: (spec.groups.iter())
                    .map(|&k| model.groups[k].name.clone())
                    .collect(),
                record: record_group(w),
            })
            .collect(),
    }
}

/// The work an account-mode run has to do now, from the model and the account emulator's state.
pub fn account_work(
    model: &Model,
    workspaces: &[Workspace],
    account: &Account,
    deprovision: bool,
) -> AccountWork {
    let desired = account_desired(model, workspaces);
    let state = account_state(account, workspaces);
    let limits = Limits::default();
    let changes = minimum::account_changes(&desired, &state, deprovision, &limits);
    let exists = |name: &String| state.groups.contains_key(name);
    AccountWork {
        distinct_group_sizes: (model.used_groups().into_iter())
            .map(|k| model.transitive_users(k).len())
            .collect(),
        listed: state.principals.users.len(),
        account_groups: state.groups.len(),
        marker_exists: state.principals.marker.is_some(),
        mirrored: desired.groups.len(),
        mirrored_existing: desired.groups.keys().filter(|g| exists(g)).count(),
        workspaces: desired.workspaces.len(),
        records_existing: (desired.workspaces.iter())
            .filter(|w| exists(&w.record))
            .count(),
        changes,
    }
}

/// When one emulator was busy during a run, in milliseconds from the handler's spawn: where the time
/// went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// `graph`, `keyVault`, `identity` or a workspace's name.
    pub source: String,
    pub requests: usize,
    pub first_ms: f64,
    pub last_ms: f64,
    /// Summed time from arrival to answer (added latency included).
    pub in_emulator_ms: f64,
}

/// What the emulators logged during a run.
pub struct Logged {
    pub counts: Counts,
    /// Requests answered 429.
    pub throttled: usize,
    pub timeline: Vec<Span>,
    /// Every request as a JSON line: source, method, path (no query), status, arrival and time taken
    /// in milliseconds from the spawn.
    pub lines: String,
}

/// Requests per API and method, 429s, and each emulator's busy span relative to `spawned` (the
/// account's requests count as `databricks`).
pub fn counted(
    world: &World,
    workspaces: &[Workspace],
    account: Option<&Account>,
    spawned: Instant,
) -> Logged {
    let mut logs: Vec<(&str, String, Vec<LoggedRequest>)> = vec![
        ("graph", "graph".to_owned(), world.tenant.faults().log()),
        (
            "keyVault",
            "keyVault".to_owned(),
            world.vault.faults().log(),
        ),
        (
            "identity",
            "identity".to_owned(),
            world.identity.faults().log(),
        ),
    ];
    logs.extend(
        workspaces
            .iter()
            .map(|w| ("databricks", w.name.clone(), w.scim.faults().log())),
    );
    logs.extend(account.map(|a| ("databricks", "account".to_owned(), a.faults().log())));
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut logged = Logged {
        counts: Counts::new(),
        throttled: 0,
        timeline: Vec::new(),
        lines: String::new(),
    };
    for (api, source, log) in logs {
        for request in &log {
            let line = serde_json::json!({
                "source": source,
                "method": request.method.as_str(),
                "path": request.path,
                "status": request.status,
                "atMs": ms(request.received.saturating_duration_since(spawned)),
                "tookMs": ms(request.took),
            });
            logged.lines.push_str(&line.to_string());
            logged.lines.push('\n');
            logged.throttled += usize::from(request.status == 429);
            *logged
                .counts
                .entry(api.to_owned())
                .or_default()
                .entry(request.method.to_string())
                .or_default() += 1;
        }
        if log.is_empty() {
            continue;
        }
        let start = |r: &LoggedRequest| ms(r.received.saturating_duration_since(spawned));
        logged.timeline.push(Span {
            source,
            requests: log.len(),
            first_ms: log.iter().map(start).fold(f64::MAX, f64::min),
            last_ms: log
                .iter()
                .map(|r| start(r) + ms(r.took))
                .fold(0.0, f64::max),
            in_emulator_ms: log.iter().map(|r| ms(r.took)).sum(),
        });
    }
    logged
}

/// Forgets every request logged so far.
pub fn clear_logs(world: &World, workspaces: &[Workspace], account: Option<&Account>) {
    if let Some(account) = account {
        account.faults().clear_log();
    }
    world.tenant.faults().clear_log();
    world.vault.faults().clear_log();
    world.identity.faults().clear_log();
    for w in workspaces {
        w.scim.faults().clear_log();
    }
}

/// The workspaces' throttles, added up: 429s, episodes, the most 429s in one episode.
pub fn throttling(workspaces: &[Workspace]) -> ThrottleStats {
    workspaces
        .iter()
        .map(|w| w.scim.throttling())
        .fold(ThrottleStats::default(), |sum, s| ThrottleStats {
            throttled: sum.throttled + s.throttled,
            episodes: sum.episodes + s.episodes,
            most_in_an_episode: sum.most_in_an_episode.max(s.most_in_an_episode),
        })
}

/// SCIM writes answered 2xx, by the workspaces and the account.
pub fn writes_done(workspaces: &[Workspace], account: Option<&Account>) -> usize {
    workspaces
        .iter()
        .flat_map(|w| w.scim.faults().log())
        .chain(account.into_iter().flat_map(|a| a.faults().log()))
        .filter(|r| r.method != axum::http::Method::GET && (200..300).contains(&r.status))
        .count()
}

fn total(counts: &Counts) -> usize {
    counts.values().flat_map(BTreeMap::values).sum()
}

fn api_total(counts: &Counts, api: &str) -> usize {
    counts.get(api).map_or(0, |m| m.values().sum())
}

/// One phase, measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    pub name: String,
    /// The report's `status` (or why there is none).
    pub status: String,
    pub exit_code: Option<i32>,
    pub wall_seconds: f64,
    /// The report's own `durationMs`.
    pub handler_duration_ms: Option<u64>,
    pub requests: Counts,
    pub minimum: Counts,
    pub requests_total: usize,
    pub minimum_total: usize,
    /// actual / minimum per API.
    pub ratio_by_api: BTreeMap<String, f64>,
    pub request_ratio: f64,
    /// The highest of `ratio_by_api`.
    pub worst_api_ratio: f64,
    pub throttled: usize,
    /// With every SCIM request throttled: what the workspaces' throttles counted.
    pub throttling: Option<ThrottleStats>,
    /// Each emulator's busy span.
    pub timeline: Vec<Span>,
    pub time_bound_seconds: f64,
    pub time_ratio: f64,
    pub peak_rss_mib: f64,
    /// The launcher's own peak: `peak_rss_mib` is exact only above it.
    pub rss_floor_mib: f64,
    pub writes: usize,
    pub minimum_writes: usize,
    /// Per workspace, the changes the phase needed (workspace mode).
    pub changes: Vec<Changes>,
    /// The changes the account needed (account mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_changes: Option<AccountChanges>,
    /// Writes still needed after the run (0 when the run converged).
    pub remaining_writes: usize,
}

/// Everything about one phase but what only exists after the run.
pub struct Before {
    pub name: String,
    pub work: Work,
}

/// Puts a phase together once the handler has exited.
pub fn phase(
    before: Before,
    finished: &Finished,
    logged: Logged,
    writes: usize,
    remaining: &Work,
    limits: &Limits,
    pace: &Pace,
) -> Phase {
    let minimum = before.work.requests(limits);
    let report: Option<Value> = serde_json::from_str(&finished.stdout).ok();
    let status = report
        .as_ref()
        .and_then(|r| r["status"].as_str())
        .unwrap_or("no report")
        .to_owned();
    let Logged {
        counts: actual,
        throttled,
        timeline,
        ..
    } = logged;
    let ratio_by_api: BTreeMap<String, f64> = actual
        .keys()
        .chain(minimum.keys())
        .map(|api| {
            let min = api_total(&minimum, api).max(1);
            (api.clone(), api_total(&actual, api) as f64 / min as f64)
        })
        .collect();
    let bound = before.work.time_bound(limits, pace);
    let wall = finished.wall.as_secs_f64();
    Phase {
        name: before.name,
        status,
        exit_code: finished.code,
        wall_seconds: wall,
        handler_duration_ms: report.as_ref().and_then(|r| r["durationMs"].as_u64()),
        requests_total: total(&actual),
        minimum_total: total(&minimum),
        request_ratio: total(&actual) as f64 / total(&minimum).max(1) as f64,
        worst_api_ratio: ratio_by_api.values().copied().fold(0.0, f64::max),
        ratio_by_api,
        requests: actual,
        minimum,
        throttled,
        throttling: None,
        timeline,
        time_bound_seconds: bound,
        time_ratio: if bound > 0.0 { wall / bound } else { 0.0 },
        peak_rss_mib: finished.max_rss_kib as f64 / 1024.0,
        rss_floor_mib: finished.floor_kib as f64 / 1024.0,
        writes,
        minimum_writes: before.work.writes(limits),
        changes: match &before.work {
            Work::Workspaces(work) => work.workspaces.iter().map(|w| w.changes).collect(),
            Work::Account(_) => Vec::new(),
        },
        account_changes: match &before.work {
            Work::Account(work) => Some(work.changes),
            Work::Workspaces(_) => None,
        },
        remaining_writes: remaining.writes(limits),
    }
}
