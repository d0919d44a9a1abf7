//! Crash safety: the real `handler` (`handler serve`, started as the host starts it) is SIGKILLed in
//! the middle of an apply, at the moment the workspace sees its Nth write (N picked from a seed, over
//! every write of a clean run), either before the write is applied (the connection then closes) or
//! after it is applied but before the answer is sent (the handler never learns it happened). A fresh
//! handler's next run must reach exactly the end state of a run that was never interrupted: every user
//! once, the newcomers created, the inactive one reactivated, the leaver deprovisioned, the marker group
//! and both mirrored groups complete; and the run after that writes nothing.
//! The workspace refuses duplicates (409) as Databricks does; the test also checks names are unique.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use sandbox::faults::{Fault, Stage, is_write};
use sandbox::graph::NewUser;
use sandbox::world::{Workspace, World};
use serde_json::json;

use crate::support::{
    Handler, assert_no_leak, handler_outputs, host_headers, secrets_of, sync_http,
    sync_http_payload,
};

const GROUP: &str = "Databricks-Group-Test";
const ENGINEERS: &str = "Data-Engineers";
const MARKER: &str = "entra-sync-managed";
const LEAVER: &str = "gone@contoso.com";
const STALE: &str = "stale@contoso.com";

fn user(i: usize) -> String {
    format!("u{i:02}@contoso.com")
}

/// Twelve desired users (eight direct, six through the nested engineers, two in both); the workspace
/// has two of them, a third inactive, a managed leaver, a mirrored group with a stale member, and
/// small pages.
async fn crash_world(deprovision: &str) -> (World, Workspace, String) {
    let world = World::start().await.unwrap();
    let t = &world.tenant;
    t.set_max_page_size(4);
    let group = t.add_group(GROUP);
    let engineers = t.add_group(ENGINEERS);
    let ids: Vec<String> = (0..12)
        .map(|i| t.add_user(NewUser::member(&user(i), &user(i))))
        .collect();
    for id in &ids[0..8] {
        t.add_member(&group, id);
    }
    for id in &ids[6..12] {
        t.add_member(&engineers, id);
    }
    t.add_member(&group, &engineers);
    t.add_user(NewUser::member(LEAVER, LEAVER));

    let ws = world.add_workspace("analytics").await.unwrap();
    ws.scim.set_max_page_size(3);
    let marker = ws.scim.add_group(MARKER);
    for (name, active) in [(user(0), true), (user(1), true), (user(2), false)] {
        let id = ws.scim.add_user(&name, &name, active);
        ws.scim.add_member(&marker, &id);
    }
    let leaver = ws.scim.add_user(LEAVER, LEAVER, true);
    ws.scim.add_member(&marker, &leaver);
    let mirrored = ws.scim.add_group(ENGINEERS);
    let stale = ws.scim.add_user(STALE, "Not an engineer any more", true);
    ws.scim.add_member(&mirrored, &stale);

    let mut entry = World::config_entry(&ws, &[GROUP, ENGINEERS]);
    entry["mirrorGroups"] = json!(true);
    entry["deprovision"] = json!(deprovision);
    entry["maxDeprovision"] = json!(10);
    let config = json!({ "workspaces": [entry] }).to_string();
    (world, ws, config)
}

/// What a workspace holds, by name: users `(name, active)` and groups with their members' names.
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    users: Vec<(String, bool)>,
    groups: BTreeMap<String, Vec<String>>,
}

fn end_state(ws: &Workspace) -> EndState {
    let users = ws.scim.users();
    let name_of = |id: &String| {
        users
            .iter()
            .find(|u| &u.id == id)
            .map_or_else(|| format!("(not a user: {id})"), |u| u.user_name.clone())
    };
    let mut listed: Vec<(String, bool)> = users
        .iter()
        .map(|u| (u.user_name.clone(), u.active))
        .collect();
    listed.sort();
    let groups = ws
        .scim
        .groups()
        .into_iter()
        .map(|g| {
            let mut members: Vec<String> = g.members.iter().map(name_of).collect();
            members.sort();
            (g.display_name, members)
        })
        .collect();
    EndState {
        users: listed,
        groups,
    }
}

/// Names must be unique, as a workspace keeps them (case-insensitively).
fn duplicates(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = ws
        .scim
        .users()
        .into_iter()
        .map(|u| u.user_name.to_lowercase())
        .chain(
            ws.scim
                .groups()
                .into_iter()
                .map(|g| format!("group {}", g.display_name.to_lowercase())),
        )
        .collect();
    names.sort();
    let mut seen = Vec::new();
    names.dedup_by(|a, b| {
        let same = a == b;
        if same {
            seen.push(a.clone());
        }
        same
    });
    seen
}

/// POSTs a sync to a handler that may die on the way: the status and report, or why there is none.
async fn sync_or_crash(handler: &Handler) -> Result<(u16, String), String> {
    let response = reqwest::Client::new()
        .post(handler.url("/SyncHttp"))
        .headers(
            host_headers("crash-run")
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .body(sync_http_payload(&json!({})))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

/// A clean run's end state and how many writes it took.
async fn reference(deprovision: &'static str) -> (EndState, usize) {
    let (world, ws, config) = crash_world(deprovision).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    (end_state(&ws), ws.scim.faults().writes())
}

/// The write at which seed `seed` kills the handler: 1..=writes, spread by a multiplicative hash.
fn kill_point(seed: u64, writes: usize) -> usize {
    let spread = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    1 + (spread as usize) % writes
}

/// One crash: kill at write `at` (before or after applying it), restart, run, compare.
async fn crash_and_recover(
    deprovision: &'static str,
    at: usize,
    stage: Stage,
    expected: &EndState,
) -> Result<String, String> {
    let (world, ws, config) = crash_world(deprovision).await;
    let first = Handler::start(&config, &world.handler_env()).await;
    let pid = Arc::new(AtomicU32::new(first.pid()));
    let seen = Arc::new(AtomicUsize::new(0));
    {
        let (pid, faults) = (Arc::clone(&pid), ws.scim.faults().clone());
        ws.scim.faults().set_hook(move |when, request| {
            if when != stage || !is_write(&request.method) {
                return;
            }
            if seen.fetch_add(1, Ordering::SeqCst) + 1 != at {
                return;
            }
            if stage == Stage::Received {
                // The write never reaches the workspace: its connection is closed instead.
                faults.inject(
                    Fault::reset()
                        .on_method(request.method.clone())
                        .on_path(&request.path),
                    1,
                );
            }
            // At `Answered` the write is applied and the handler dies before it hears so.
            kill(pid.load(Ordering::SeqCst));
        });
    }
    let outcome = sync_or_crash(&first).await;
    if let Ok((status, body)) = &outcome
        && *status == 200
        && body.contains("\"statusCode\":200")
    {
        return Err(format!(
            "the handler was not killed (write {at} never came): {body}"
        ));
    }
    let cut_at = ws.scim.faults().writes();
    ws.scim.faults().set_hook(|_, _| {});
    let second = Handler::start(&config, &world.handler_env()).await;
    let (code, report) = sync_http(&second, json!({})).await;
    if code != 200 {
        return Err(format!("the run after the crash failed ({code}): {report}"));
    }
    let dups = duplicates(&ws);
    if !dups.is_empty() {
        return Err(format!("duplicate principals: {dups:?}"));
    }
    let state = end_state(&ws);
    if &state != expected {
        return Err(format!(
            "not the end state of an uninterrupted run:\n  got      {state:?}\n  expected {expected:?}"
        ));
    }
    let before = ws.scim.faults().writes();
    let (code, again) = sync_http(&second, json!({})).await;
    let extra = ws.scim.faults().writes() - before;
    if code != 200 || extra != 0 {
        return Err(format!(
            "the run after recovery is not a no-op ({code}, {extra} writes): {again}"
        ));
    }
    let mut outputs = handler_outputs(&first);
    outputs.extend(handler_outputs(&second));
    outputs.push(("the report after the crash", report.to_string()));
    if let Ok((_, body)) = outcome {
        outputs.push(("the killed run's answer", body));
    }
    assert_no_leak(&secrets_of(&world), &outputs);
    Ok(format!("{cut_at} writes seen when killed"))
}

fn kill(pid: u32) {
    if pid != 0 {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_killed_at_any_write_leaves_nothing_the_next_run_does_not_complete() {
    let (deactivate, remove) = tokio::join!(reference("deactivate"), reference("remove"));
    assert!(
        deactivate.1 >= 10,
        "a clean run writes enough to crash in: {}",
        deactivate.1
    );
    let mut cases = Vec::new();
    for seed in 1..=8u64 {
        let (mode, (expected, writes)) = if seed % 2 == 0 {
            ("deactivate", &deactivate)
        } else {
            ("remove", &remove)
        };
        let at = kill_point(seed, *writes);
        let stage = if seed % 4 < 2 {
            Stage::Answered
        } else {
            Stage::Received
        };
        cases.push((seed, mode, at, stage, expected));
    }
    // The first and the last write too, whatever the seeds gave.
    cases.push((0, "remove", 1, Stage::Received, &remove.0));
    cases.push((
        9,
        "deactivate",
        deactivate.1,
        Stage::Answered,
        &deactivate.0,
    ));
    let runs = cases
        .iter()
        .map(|&(seed, mode, at, stage, expected)| async move {
            let outcome = crash_and_recover(mode, at, stage, expected).await;
            (seed, mode, at, stage, outcome)
        });
    let mut failures = Vec::new();
    for (seed, mode, at, stage, outcome) in futures::future::join_all(runs).await {
        match outcome {
            Ok(note) => {
                eprintln!("seed {seed} ({mode}, killed at write {at}, {stage:?}): ok, {note}")
            }
            Err(why) => failures.push(format!(
                "seed {seed} ({mode}, killed at write {at}, {stage:?}): {why}"
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
