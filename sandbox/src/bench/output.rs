//! The bench's results in words: one line per phase while it runs, a summary with each target met or
//! missed, and a Markdown section appended to `BENCHMARKS.md`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::measure::Phase;
use super::{
    ACCOUNT_STEADY_TARGET_SECONDS, READY_TARGET_MS, REQUEST_RATIO_TARGET, RSS_TARGET_MIB, Ready,
    Results, STEADY_TARGET_SECONDS, TIME_RATIO_TARGET,
};

/// The prefix of the account-mode phases' names.
const ACCOUNT: &str = "account ";

fn in_account_mode(p: &Phase) -> bool {
    p.name.starts_with(ACCOUNT)
}

/// The initial syncs' writes in both modes, on the same organisation: (workspace mode's measured and
/// minimum, account mode's measured and minimum).
fn initial_writes(r: &Results) -> Option<((usize, usize), (usize, usize))> {
    let find = |name: &str| {
        (r.phases.iter())
            .find(|p| p.name == name)
            .map(|p| (p.writes, p.minimum_writes))
    };
    Some((find("initial")?, find("account initial")?))
}

/// Workspace mode's writes next to account mode's, for the initial sync of the same organisation.
pub fn comparison(r: &Results) -> Option<String> {
    let ((workspace, workspace_min), (account, account_min)) = initial_writes(r)?;
    Some(format!(
        "Initial sync of the same organisation ({} distinct desired users in {} workspaces): \
         workspace mode {workspace} writes (minimum {workspace_min}), account mode {account} writes \
         (minimum {account_min}): {:.2} x fewer writes in account mode ({:.2} x by the minimums).",
        r.parameters.distinct_desired,
        r.parameters.workspaces,
        workspace as f64 / account.max(1) as f64,
        workspace_min as f64 / account_min.max(1) as f64,
    ))
}

/// The median of the wall times of `phases`, and their writes.
fn median_wall(phases: &[&Phase]) -> (f64, usize, String) {
    let mut walls: Vec<f64> = phases.iter().map(|ph| ph.wall_seconds).collect();
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    let writes = phases.iter().map(|ph| ph.writes).sum();
    let each: Vec<String> = phases
        .iter()
        .map(|ph| format!("{:.2}", ph.wall_seconds))
        .collect();
    (median, writes, each.join(", "))
}

/// `2026-11-28T11-00-00Z`: sortable, and usable in a file name.
pub fn timestamp() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]-[minute]-[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "unknown-time".to_owned())
}

pub fn ready(times: &[Duration]) -> Ready {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let median = match ms.len() {
        0 => 0.0,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    };
    Ready {
        starts: ms.len(),
        median_ms: median,
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

/// `; 3 throttling episodes (at most 1 429 in one)` under a throttle, else nothing.
fn episodes(p: &Phase) -> String {
    p.throttling.map_or(String::new(), |t| {
        format!(
            "; {} throttling episodes (at most {} 429s in one)",
            t.episodes, t.most_in_an_episode
        )
    })
}

pub fn phase_line(p: &Phase) -> String {
    let line = format!(
        "  {}: {} in {:.2} s (bound {:.2} s, x{:.2}); {} requests (minimum {}, x{:.3}; worst API x{:.3}); \
         {} writes (minimum {}); {} answered 429; peak RSS {:.1} MiB; {} writes left",
        p.name,
        p.status,
        p.wall_seconds,
        p.time_bound_seconds,
        p.time_ratio,
        p.requests_total,
        p.minimum_total,
        p.request_ratio,
        p.worst_api_ratio,
        p.writes,
        p.minimum_writes,
        p.throttled,
        p.peak_rss_mib,
        p.remaining_writes
    );
    line + &episodes(p)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// Each target as this run judges it: (target, measured, `met` | `missed` | `n/a`). Targets stated for
/// a scale (steady state at 20,000 users, 5 workspaces and 20 ms; peak RSS at 100,000 users) are judged
/// only on runs at least that large.
pub fn targets(r: &Results) -> Vec<(String, String, &'static str)> {
    let p = &r.parameters;
    let mut rows = Vec::new();
    let worst = r
        .phases
        .iter()
        .map(|p| p.worst_api_ratio)
        .fold(0.0, f64::max);
    let by_phase: Vec<String> = r
        .phases
        .iter()
        .map(|p| {
            let worst_api = p
                .ratio_by_api
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or("-", |(api, _)| api.as_str());
            format!("{} {:.3} ({worst_api})", p.name, p.worst_api_ratio)
        })
        .collect();
    rows.push((
        format!("requests ≤ {REQUEST_RATIO_TARGET} × minimum, every phase and API"),
        by_phase.join(", "),
        verdict(worst <= REQUEST_RATIO_TARGET),
    ));
    if let Some(ph) = r.phases.iter().find(|ph| ph.name == "initial") {
        rows.push((
            format!("initial sync ≤ {TIME_RATIO_TARGET} × the rate-limit bound"),
            format!(
                "{:.1} s / {:.1} s = {:.2}",
                ph.wall_seconds, ph.time_bound_seconds, ph.time_ratio
            ),
            verdict(ph.time_ratio <= TIME_RATIO_TARGET),
        ));
    }
    let throttled: Vec<&Phase> = r.phases.iter().filter(|p| p.throttling.is_some()).collect();
    if !throttled.is_empty() {
        let each: Vec<String> = throttled
            .iter()
            .filter_map(|p| {
                let t = p.throttling?;
                Some(format!("{} {} / {}", p.name, t.throttled, t.episodes))
            })
            .collect();
        let met = throttled
            .iter()
            .filter_map(|p| p.throttling)
            .all(|t| t.throttled <= t.episodes);
        rows.push((
            "429s ≤ throttling episodes (one back-off per episode), every phase".to_owned(),
            format!("429s / episodes: {}", each.join(", ")),
            verdict(met),
        ));
    }
    let at_scale = p.users >= 20_000 && p.workspaces >= 5 && p.latency_ms >= 20;
    let steady: Vec<&Phase> = r
        .phases
        .iter()
        .filter(|ph| ph.name.starts_with("steady"))
        .collect();
    if !steady.is_empty() {
        let (median, writes, each) = median_wall(&steady);
        rows.push((
            format!(
                "steady state ≤ {STEADY_TARGET_SECONDS} s with zero writes (20,000 users, 5 workspaces, 20 ms; median of the runs)"
            ),
            format!("median {median:.2} s ({each} s), {writes} writes"),
            if at_scale {
                verdict(median <= STEADY_TARGET_SECONDS && writes == 0)
            } else {
                "n/a"
            },
        ));
    }
    let rss_of = |account: bool| {
        (r.phases.iter())
            .filter(|p| in_account_mode(p) == account)
            .map(|p| p.peak_rss_mib)
            .fold(0.0, f64::max)
    };
    let rss = rss_of(false);
    let workspace_mode_ran = r.phases.iter().any(|p| !in_account_mode(p));
    if workspace_mode_ran {
        rows.push((
            format!("peak RSS ≤ {RSS_TARGET_MIB} MiB (100,000 users)"),
            format!("{rss:.1} MiB"),
            if p.users >= 100_000 {
                verdict(rss <= RSS_TARGET_MIB)
            } else {
                "n/a"
            },
        ));
    }
    rows.extend(account_targets(r, at_scale, rss_of(true)));
    if let Some(ready) = &r.ready {
        rows.push((
            format!(
                "ready to serve ≤ {READY_TARGET_MS} ms (median of {})",
                ready.starts
            ),
            format!(
                "median {:.1} ms, max {:.1} ms",
                ready.median_ms, ready.max_ms
            ),
            verdict(ready.median_ms <= READY_TARGET_MS),
        ));
    }
    rows
}

/// The account-mode targets (issue 17), when the account-mode phases ran: writes ≤ 1.05 × the
/// minimum in every phase, steady state ≤ 1 s with zero writes at 20,000 users, 5 workspaces and
/// 20 ms, peak RSS ≤ 64 MiB at 100,000 users.
fn account_targets(r: &Results, at_scale: bool, rss: f64) -> Vec<(String, String, &'static str)> {
    let phases: Vec<&Phase> = r.phases.iter().filter(|p| in_account_mode(p)).collect();
    if phases.is_empty() {
        return Vec::new();
    }
    let mut rows = Vec::new();
    let ratio = |p: &Phase| p.writes as f64 / p.minimum_writes.max(1) as f64;
    let each: Vec<String> = (phases.iter())
        .map(|p| format!("{} {} / {}", p.name, p.writes, p.minimum_writes))
        .collect();
    let mut measured = each.join(", ");
    if let Some(((workspace, _), (account, _))) = initial_writes(r) {
        measured.push_str(&format!(
            "; workspace mode's initial sync {workspace}: {:.2} x more",
            workspace as f64 / account.max(1) as f64
        ));
    }
    rows.push((
        format!("account mode: writes ≤ {REQUEST_RATIO_TARGET} × minimum, every phase"),
        measured,
        verdict(phases.iter().all(|p| ratio(p) <= REQUEST_RATIO_TARGET)),
    ));
    let steady: Vec<&Phase> = (phases.iter().copied())
        .filter(|p| p.name.starts_with("account steady"))
        .collect();
    if !steady.is_empty() {
        let (median, writes, each) = median_wall(&steady);
        rows.push((
            format!(
                "account mode: steady state ≤ {ACCOUNT_STEADY_TARGET_SECONDS} s with zero writes (20,000 users, 5 workspaces, 20 ms; median of the runs)"
            ),
            format!("median {median:.2} s ({each} s), {writes} writes"),
            if at_scale {
                verdict(median <= ACCOUNT_STEADY_TARGET_SECONDS && writes == 0)
            } else {
                "n/a"
            },
        ));
    }
    rows.push((
        format!("account mode: peak RSS ≤ {RSS_TARGET_MIB} MiB (100,000 users)"),
        format!("{rss:.1} MiB"),
        if r.parameters.users >= 100_000 {
            verdict(rss <= RSS_TARGET_MIB)
        } else {
            "n/a"
        },
    ));
    rows
}

/// The summary printed at the end of a run.
pub fn text(r: &Results) -> String {
    let mut out = String::from("\nPhases:\n");
    for p in &r.phases {
        out.push_str(&phase_line(p));
        out.push('\n');
        for (api, methods) in &p.requests {
            for (method, n) in methods {
                let min = p
                    .minimum
                    .get(api)
                    .and_then(|m| m.get(method))
                    .copied()
                    .unwrap_or(0);
                out.push_str(&format!("      {api} {method}: {n} (minimum {min})\n"));
            }
        }
        for span in &p.timeline {
            out.push_str(&format!(
                "      {:<10} {:>6} requests between {:>9.1} and {:>9.1} ms after spawn, {:>10.1} ms in the emulator\n",
                span.source, span.requests, span.first_ms, span.last_ms, span.in_emulator_ms
            ));
        }
    }
    if let Some(ready) = &r.ready {
        out.push_str(&format!(
            "Ready to serve: median {:.1} ms, max {:.1} ms over {} starts\n",
            ready.median_ms, ready.max_ms, ready.starts
        ));
    }
    for b in &r.budget {
        out.push_str(&format!(
            "Budget run {}: {} in {:.1} s, {} writes, {} left\n",
            b.run, b.status, b.wall_seconds, b.writes, b.remaining_writes
        ));
    }
    if let Some(line) = comparison(r) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("Targets:\n");
    for (target, value, verdict) in targets(r) {
        out.push_str(&format!("  {verdict:<7} {target}: {value}\n"));
    }
    out
}

fn api_methods(r: &Results) -> BTreeSet<(String, String)> {
    r.phases
        .iter()
        .flat_map(|p| p.requests.iter().chain(&p.minimum))
        .flat_map(|(api, methods)| methods.keys().map(move |m| (api.clone(), m.clone())))
        .collect()
}

/// The run as a Markdown section.
pub fn markdown(r: &Results) -> String {
    let p = &r.parameters;
    let (limit, handler) = match p.scim_throttle_rate {
        Some(rate) => (
            format!("every SCIM request throttled at {rate:.3}/s per workspace"),
            format!(
                "the handler's default `scimRequestsPerSecond` ({:.3}, not configured) under test",
                p.scim_requests_per_second
            ),
        ),
        None => (
            format!("{} SCIM writes/s per workspace", p.scim_write_rate),
            format!(
                "handler `scimRequestsPerSecond` = {} (the write rate under test)",
                p.scim_requests_per_second
            ),
        ),
    };
    let mut out = format!(
        "\n### {}: {} users, {} groups, {} workspaces, {} ms latency, {limit} ({})\n\n",
        r.started_at, p.users, p.groups, p.workspaces, p.latency_ms, p.profile
    );
    out.push_str(&format!(
        "Seed {}; {} direct memberships, {}% changed for the incremental phase; desired users per \
         workspace {:?}; {handler}.\n\n",
        p.seed, p.memberships, p.change_percent, p.desired_per_workspace,
    ));
    if p.account_mode {
        out.push_str(&format!(
            "Account mode (the phases named `account …`): the same organisation on a fresh world, \
             every workspace with `identities: \"account\"` and `mirrorGroups`, federated into one \
             emulated account that accepts {} PATCHes and {} POST/PUT/DELETEs per second and reads \
             unlimited; handler `account.requestsPerSecond` = {} for `patch` and `write`, 1000 for \
             `get` and `list`; {} distinct desired users.\n\n",
            p.scim_write_rate, p.scim_write_rate, p.scim_write_rate, p.distinct_desired
        ));
    }
    out.push_str(
        "| phase | status | wall s | bound s | wall / bound | requests (minimum) | ratio | worst API ratio | writes (minimum) | 429s | episodes | peak RSS MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for ph in &r.phases {
        let episodes = ph
            .throttling
            .map_or("-".to_owned(), |t| t.episodes.to_string());
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} ({}) | {:.3} | {:.3} | {} ({}) | {} | {episodes} | {:.1} |\n",
            ph.name,
            ph.status,
            ph.wall_seconds,
            ph.time_bound_seconds,
            ph.time_ratio,
            ph.requests_total,
            ph.minimum_total,
            ph.request_ratio,
            ph.worst_api_ratio,
            ph.writes,
            ph.minimum_writes,
            ph.throttled,
            ph.peak_rss_mib
        ));
    }
    let columns = api_methods(r);
    out.push_str("\nRequests by API and method, actual / minimum:\n\n| phase |");
    for (api, method) in &columns {
        out.push_str(&format!(" {api} {method} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for ph in &r.phases {
        out.push_str(&format!("| {} |", ph.name));
        for (api, method) in &columns {
            let get = |c: &super::minimum::Counts| {
                c.get(api).and_then(|m| m.get(method)).copied().unwrap_or(0)
            };
            out.push_str(&format!(" {} / {} |", get(&ph.requests), get(&ph.minimum)));
        }
        out.push('\n');
    }
    if let Some(ready) = &r.ready {
        out.push_str(&format!(
            "\nReady to serve (spawn to first `GET /` answered 200): median {:.1} ms, max {:.1} ms over {} starts.\n",
            ready.median_ms, ready.max_ms, ready.starts
        ));
    }
    if !r.budget.is_empty() {
        out.push_str(&format!(
            "\nBudget phase (`SYNC_MAX_RUN_SECONDS={}`, the initial sync repeated):\n\n\
             | run | status | wall s | writes | writes left |\n|---:|---|---:|---:|---:|\n",
            r.budget_seconds.unwrap_or(0)
        ));
        for b in &r.budget {
            out.push_str(&format!(
                "| {} | {} | {:.1} | {} | {} |\n",
                b.run, b.status, b.wall_seconds, b.writes, b.remaining_writes
            ));
        }
    }
    if let Some(line) = comparison(r) {
        out.push_str(&format!("\n{line}\n"));
    }
    out.push_str("\n| target | measured | |\n|---|---|---|\n");
    for (target, value, verdict) in targets(r) {
        out.push_str(&format!("| {target} | {value} | {verdict} |\n"));
    }
    out
}

/// Appends the run's section to `path` (created if missing).
///
/// # Errors
/// The file could not be opened or written.
pub fn append_markdown(path: &Path, r: &Results) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(markdown(r).as_bytes())
}
