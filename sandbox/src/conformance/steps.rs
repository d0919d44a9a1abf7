//! The conformance steps the real `handler` goes through against one peer SCIM server, each checked
//! on the handler's report, on the requests the front relayed, and on the peer's real state (listed
//! directly): (a) the first sync creates exactly the desired users, active; (b) a re-run writes
//! nothing; (c) a user created behind the product's back (as at first sign-in) and hidden from
//! listings is adopted through the peer's own 409 without a duplicate; (d) a user deactivated in the
//! peer is reactivated; (e) with `mirrorGroups` the configured group becomes a peer group with exactly
//! its synced members and follows a removal in Entra; (f) with deprovisioning on, a peer without
//! Databricks' `/Me` makes the sync refuse and change nothing. Each step prints `PASS`/`FAIL` (with the handler's output on failure); steps
//! stop at the first failure, since each builds on the state the previous one left.

use axum::http::Method;
use serde_json::{Value, json};

use super::front::is_write;
use super::peer::{Peer, PeerUser, text};
use super::stage::{Outcome, Stage};
use crate::faults::LoggedRequest;

const JIT_USER: &str = "jit@contoso.com";
const DEACTIVATED_USER: &str = "bo@contoso.com";

type Step = Result<String, String>;

/// The steps, in order.
const STEPS: [&str; 6] = [
    "a. first sync creates the desired users",
    "b. re-run makes zero writes",
    "c. a user created at first sign-in is adopted through the peer's 409",
    "d. a user deactivated in the peer is reactivated",
    "e. group mirroring creates the group with its members and follows a removal",
    "f. deprovisioning without /Me fails closed",
];
/// The user who leaves the nested group in step e.
const LEAVER: &str = "cy@contoso.com";

/// Runs every step; true when all passed.
pub async fn run_all(s: &Stage, p: &Peer, name: &str, token: &str) -> bool {
    let mut last: Option<Outcome> = None;
    for (index, label) in STEPS.into_iter().enumerate() {
        let result = match index {
            0 => first_sync(s, p, &mut last).await,
            1 => rerun_writes_nothing(s, p, &mut last).await,
            2 => adoption(s, p, &mut last).await,
            3 => reactivation(s, p, &mut last).await,
            4 => mirroring(s, p, &mut last).await,
            _ => deprovisioning(s, p, &mut last).await,
        };
        if !report(name, label, result, &last, token) {
            println!("SKIP {name}: later steps not run after a failure");
            return false;
        }
    }
    true
}

/// Prints the step's PASS/FAIL line (and the handler's output on failure); true when it passed.
fn report(name: &str, label: &str, result: Step, last: &Option<Outcome>, token: &str) -> bool {
    match result.and_then(|detail| no_secret(last.as_ref(), token).map(|()| detail)) {
        Ok(detail) => {
            println!("PASS {name}: {label} ({detail})");
            true
        }
        Err(why) => {
            println!("FAIL {name}: {label}: {why}");
            if let Some(o) = last {
                println!(
                    "---- handler exit code: {:?}\n---- handler stdout:\n{}\n---- handler stderr:\n{}----",
                    o.code, o.stdout, o.stderr
                );
            }
            false
        }
    }
}

async fn first_sync(s: &Stage, p: &Peer, last: &mut Option<Outcome>) -> Step {
    let outcome = sync(s, last).await?;
    succeeded(
        outcome,
        json!({"desired": 5, "existing": 0, "created": 5, "reactivated": 0, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0}),
    )?;
    let log = s.front.log();
    marker_written(&log, &[Method::POST, Method::PATCH])?;
    let writes = on_users(&log);
    if writes.len() != 5
        || writes
            .iter()
            .any(|w| w.method != Method::POST || w.status != 201)
    {
        return Err(format!(
            "expected 5 POSTs answered 201, the front saw {writes:?}"
        ));
    }
    peer_state(p, &Stage::desired()).await?;
    Ok("5 POSTs answered 201, the marker group created and filled; the peer holds exactly the desired users, all active".to_owned())
}

async fn rerun_writes_nothing(s: &Stage, p: &Peer, last: &mut Option<Outcome>) -> Step {
    let outcome = sync(s, last).await?;
    succeeded(
        outcome,
        json!({"desired": 5, "existing": 5, "created": 0, "reactivated": 0, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0}),
    )?;
    let log = s.front.log();
    let writes = log.iter().filter(|r| is_write(r)).count();
    if writes != 0 {
        return Err(format!("expected no write, the front saw {log:?}"));
    }
    peer_state(p, &Stage::desired()).await?;
    Ok(format!("{} GETs, 0 writes", log.len()))
}

async fn adoption(s: &Stage, p: &Peer, last: &mut Option<Outcome>) -> Step {
    let created = p.create_user(JIT_USER, "Jit (first sign-in)").await?;
    if created.status != 201 {
        return Err(format!(
            "creating {JIT_USER} in the peer: {} {}",
            created.status,
            text(&created)
        ));
    }
    s.add_nested_member(JIT_USER);
    s.front.hide(JIT_USER);
    let outcome = sync(s, last).await?;
    succeeded(
        outcome,
        json!({"desired": 6, "existing": 6, "created": 0, "reactivated": 0, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0}),
    )?;
    let log = s.front.log();
    // The adopted user is marked as managed: one PATCH of the marker group.
    marker_written(&log, &[Method::PATCH])?;
    let writes = on_users(&log);
    if writes.len() != 1 || writes[0].method != Method::POST || writes[0].status != 409 {
        return Err(format!(
            "expected one POST answered 409 by the peer, the front saw {writes:?}"
        ));
    }
    let lookup = log.iter().any(|r| {
        r.method == Method::GET
            && r.query.as_deref().is_some_and(|q| q.contains("filter="))
            && r.status == 200
    });
    if !lookup {
        return Err(format!(
            "expected a look-up by filter after the 409, the front saw {log:?}"
        ));
    }
    let mut expected = Stage::desired();
    expected.push(JIT_USER.to_owned());
    peer_state(p, &expected).await?;
    s.front.show_all();
    Ok("the peer answered its own 409, the filter found the user, no duplicate".to_owned())
}

async fn reactivation(s: &Stage, p: &Peer, last: &mut Option<Outcome>) -> Step {
    let users = p.users().await?;
    let Some(user) = users
        .iter()
        .find(|u| u.user_name.eq_ignore_ascii_case(DEACTIVATED_USER))
    else {
        return Err(format!("{DEACTIVATED_USER} is not in the peer: {users:?}"));
    };
    let answer = p.set_active(&user.id, false).await?;
    if !matches!(answer.status, 200 | 204) {
        return Err(format!(
            "deactivating {DEACTIVATED_USER} in the peer: {} {}",
            answer.status,
            text(&answer)
        ));
    }
    let inactive = p
        .users()
        .await?
        .into_iter()
        .any(|u| u.id == user.id && !u.active);
    if !inactive {
        return Err(format!(
            "the peer answered {} to PATCH active=false but still lists {DEACTIVATED_USER} active",
            answer.status
        ));
    }
    let outcome = sync(s, last).await?;
    succeeded(
        outcome,
        json!({"desired": 6, "existing": 5, "created": 0, "reactivated": 1, "deactivated": 0, "removed": 0, "skipped": 1, "failed": 0, "accountDeactivated": 0}),
    )?;
    let log = s.front.log();
    marker_written(&log, &[])?;
    let writes = on_users(&log);
    let patched = |w: &LoggedRequest| w.method == Method::PATCH;
    let how = match writes.as_slice() {
        // The peer takes Databricks' form of `active` (a list of one string).
        [one] if patched(one) && matches!(one.status, 200 | 204) => {
            format!("one PATCH in Databricks' form ({})", one.status)
        }
        // An RFC 7644 peer refuses that form; the handler sends the RFC's boolean once.
        [refused, rfc]
            if patched(refused)
                && refused.status == 400
                && patched(rfc)
                && matches!(rfc.status, 200 | 204) =>
        {
            format!(
                "Databricks' form refused (400), then the RFC boolean ({})",
                rfc.status
            )
        }
        _ => {
            return Err(format!(
                "expected one PATCH answered 200 or 204, or a 400 to Databricks' form then one, the front saw {writes:?}"
            ));
        }
    };
    let mut expected = Stage::desired();
    expected.push(JIT_USER.to_owned());
    peer_state(p, &expected).await?;
    Ok(format!(
        "the peer answers PATCH with {}; reactivated with {how}",
        answer.status
    ))
}

/// Runs the handler with a fresh front log; keeps the outcome for the failure report.
async fn sync<'a>(s: &Stage, last: &'a mut Option<Outcome>) -> Result<&'a Outcome, String> {
    s.front.clear_log();
    let outcome = s
        .sync()
        .await
        .map_err(|e| format!("running the handler: {e}"))?;
    Ok(last.insert(outcome))
}

fn succeeded(outcome: &Outcome, users: Value) -> Result<(), String> {
    if outcome.code != Some(0) || outcome.report["status"] != "succeeded" {
        return Err(format!(
            "the handler exited {:?} with status {}",
            outcome.code, outcome.report["status"]
        ));
    }
    if outcome.users() != users {
        return Err(format!(
            "report users {} (expected {users})",
            outcome.users()
        ));
    }
    Ok(())
}

/// The peer holds exactly `expected` (lower case, once each), all active.
async fn peer_state(p: &Peer, expected: &[String]) -> Result<Vec<PeerUser>, String> {
    let users = p.users().await?;
    let mut names: Vec<String> = users
        .iter()
        .map(|u| u.user_name.to_ascii_lowercase())
        .collect();
    names.sort();
    let mut want = expected.to_vec();
    want.sort();
    if names != want {
        return Err(format!("the peer holds {names:?}, expected {want:?}"));
    }
    if let Some(inactive) = users.iter().find(|u| !u.active) {
        return Err(format!("{} is inactive in the peer", inactive.user_name));
    }
    Ok(users)
}

/// The peer's token never appears in the handler's output.
fn no_secret(outcome: Option<&Outcome>, token: &str) -> Result<(), String> {
    match outcome {
        Some(o) if o.stdout.contains(token) || o.stderr.contains(token) => {
            Err("the workspace token appeared in the handler's output".to_owned())
        }
        _ => Ok(()),
    }
}

/// The writes sent to `/Users`.
fn on_users(log: &[LoggedRequest]) -> Vec<LoggedRequest> {
    log.iter()
        .filter(|r| is_write(r) && r.path.contains("/Users"))
        .cloned()
        .collect()
}

/// The writes to the marker group (`/Groups`) must be exactly `methods`, each answered 2xx.
fn marker_written(log: &[LoggedRequest], methods: &[Method]) -> Result<(), String> {
    let writes: Vec<&LoggedRequest> = log
        .iter()
        .filter(|r| is_write(r) && r.path.contains("/Groups"))
        .collect();
    let seen: Vec<&Method> = writes.iter().map(|r| &r.method).collect();
    let expected: Vec<&Method> = methods.iter().collect();
    if seen != expected || writes.iter().any(|r| !(200..300).contains(&r.status)) {
        return Err(format!(
            "expected the marker group writes {methods:?}, the front saw {writes:?}"
        ));
    }
    Ok(())
}

/// `mirrorGroups`: the configured group becomes a peer group with exactly its synced members; a
/// member who leaves in Entra leaves the peer group (PATCH remove), and stays a user.
async fn mirroring(s: &Stage, p: &Peer, last: &mut Option<Outcome>) -> Step {
    s.configure(json!({"mirrorGroups": true}))
        .map_err(|e| e.to_string())?;
    sync(s, last).await?;
    let mut expected = Stage::desired();
    expected.push(JIT_USER.to_owned());
    expected.sort();
    let members = p.group_members(super::stage::GROUP).await?;
    if members.as_ref() != Some(&expected) {
        return Err(format!(
            "expected the group {} with {expected:?}, the peer has {members:?}",
            super::stage::GROUP
        ));
    }
    s.remove_nested_member(LEAVER);
    s.front.clear_log();
    sync(s, last).await?;
    let members = p
        .group_members(super::stage::GROUP)
        .await?
        .unwrap_or_default();
    if members.iter().any(|m| m == LEAVER) || members.len() != expected.len() - 1 {
        return Err(format!(
            "{LEAVER} should have left the group, the peer has {members:?}"
        ));
    }
    let removals: Vec<LoggedRequest> = s
        .front
        .log()
        .into_iter()
        .filter(|r| r.method == Method::PATCH && r.path.contains("/Groups"))
        .collect();
    if removals.len() != 1 || !(200..300).contains(&removals[0].status) {
        return Err(format!(
            "expected one PATCH remove on the group, the front saw {removals:?}"
        ));
    }
    Ok(format!(
        "{} members mirrored; {LEAVER} removed with one PATCH ({})",
        expected.len(),
        removals[0].status
    ))
}

/// `deprovision: deactivate` against a peer without Databricks' `/Me` (scim2-server answers 501,
/// scimmy 404): the sync cannot tell its own identity apart, so it must refuse, say why, and change
/// nothing. (Deactivation itself is the PATCH of step d; its planning is tested against the emulator.)
async fn deprovisioning(s: &Stage, p: &Peer, last: &mut Option<Outcome>) -> Step {
    s.configure(json!({"deprovision": "deactivate", "maxDeprovision": 5}))
        .map_err(|e| e.to_string())?;
    let before = p.users().await?;
    let outcome = sync(s, last).await?;
    let error = outcome.report["workspaces"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if outcome.code != Some(1) || !error.contains("cannot read the token's own identity (/Me)") {
        return Err(format!(
            "expected a failed workspace naming /Me, got exit {:?}: {error}",
            outcome.code
        ));
    }
    let writes: Vec<LoggedRequest> = s.front.log().into_iter().filter(is_write).collect();
    let after = p.users().await?;
    if !writes.is_empty() || after != before {
        return Err(format!(
            "nothing may change when /Me is unknown; the front saw writes {writes:?}"
        ));
    }
    Ok(format!("refused with \"{error}\"; no write"))
}
