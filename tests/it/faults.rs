//! The fault matrix: the real `handler` against the emulators, one test per outside API, each fault
//! of the table below injected into a fresh world (all cases of an API run at the same time, each with
//! its own world and handler). Every world starts "already synced" with deprovisioning on (`deactivate`
//! or `remove`, a limit high enough not to hide a mistake): five managed users in the marker group, a
//! managed leaver who is no longer in the Entra group, a newcomer who is, a user created by hand and
//! the admin. For each case:
//! - the run ends within `ENDS_WITHIN` (the slowest cases take about 60 s: one client time-out, or
//!   the back-off of a retried call);
//! - a fault that outlasts the retries fails the workspace with its cause in words (the operation,
//!   and the status or what was wrong with the answer); a fault that is ridden out gives a run that
//!   succeeds and converges at once;
//! - nobody who is still desired is ever deactivated or removed, the hand-made user and the admin are
//!   never touched, and a fault on a read sends no write at all;
//! - once the fault clears, the next run converges: the newcomer created and marked, the leaver
//!   deprovisioned, the marker group complete;
//! - no output (handler stdout and stderr, the reports) holds a secret or a piece of one.
//!
//! | fault \ API                        | Graph | SCIM | Key Vault | identity |
//! |------------------------------------|-------|------|-----------|----------|
//! | 429 with `Retry-After`             | yes   | yes  | yes       | yes      |
//! | 503                                | yes   | yes  | yes       | yes      |
//! | no answer until the client time-out| once  | once | once      | once     |
//! | connection closed without answer   | yes   | yes  | yes       | yes      |
//! | invalid JSON                       | yes   | yes  | yes       | yes      |
//! | answer cut off mid-body            | yes   | yes  | yes       | yes      |
//! | truncated page                     | yes   | yes  | n/a       | n/a      |
//! | empty page                         | yes   | yes  | n/a       | n/a      |
//! | `@odata.count` ahead of the listing| yes   | n/a  | n/a       | n/a      |
//! | `@odata.nextLink` that loops       | yes   | n/a  | n/a       | n/a      |
//! | `@odata.nextLink` to another host  | yes   | n/a  | n/a       | n/a      |
//! | lying `totalResults`               | n/a   | yes  | n/a       | n/a      |
//! | 403 (a permission is missing)      | yes   | yes  | yes       | n/a      |
//!
//! A 403 is never retried, and the error names the missing permission and where to grant it: Graph's
//! least-privileged application permission for the call (`GroupMember.Read.All`; `Member.Read.Hidden`
//! too for members), the workspace admin rights of the PAT's user, Key Vault's "Key Vault Secrets
//! User" role or an access policy with Get on secrets. The identity endpoint has no permission to lack.
//!
//! Not applicable: Key Vault and the identity endpoint answer one object per call, with no paging, so
//! page faults have nothing to act on. SCIM pages by `startIndex`, not by link: its looping analogue
//! is a server that ignores `startIndex` (tested, with an honest and with a lying `totalResults`).
//! `totalResults` is SCIM's; Graph's count (`@odata.count`) is what the truncated and empty pages
//! contradict. A Graph listing shorter than its count is read once more; still short, the run is
//! `partial` with removals waiting (`Expect::Waits`), never failed and never a removal: Graph serves
//! counts from an eventually consistent index.
//! "No answer" is tested once per API, as a fault that holds one request until the client gives up
//! (60 s: `REQUEST_TIMEOUT` in `src/http.rs`, and the Azure SDK's read time-out for Key Vault and the
//! identity endpoint) and is then ridden out by the retry. A persistent "no answer" is not run: with
//! 7 attempts of 60 s it would take over 7 minutes for Graph or SCIM (about 2 for Key Vault and the
//! identity endpoint); `docs/reliability.md` gives the bounds.
//! SCIM also gets faults on its writes (a failed creation, a failed membership change, `/Me`).

use std::time::{Duration, Instant};

use axum::http::Method;
use sandbox::faults::{Fault, Faults};
use sandbox::graph::NewUser;
use sandbox::world::{Workspace, World};
use serde_json::json;

use crate::support::{Handler, assert_no_leak, handler_outputs, secrets_of, sync_http};

const GROUP: &str = "Databricks-Group-Test";
const MARKER: &str = "entra-sync-managed";
/// Members of the Entra group that the workspace already has, active and marked.
const SYNCED: [&str; 5] = [
    "user0@contoso.com",
    "user1@contoso.com",
    "user2@contoso.com",
    "user3@contoso.com",
    "user4@contoso.com",
];
/// A member of the Entra group the workspace does not have yet.
const NEWCOMER: &str = "user5@contoso.com";
/// A marked user no longer in the Entra group: deprovisioned once the sync can see it.
const LEAVER: &str = "leaver@contoso.com";
/// A user created by hand in the workspace: never touched.
const HANDMADE: &str = "handmade@contoso.com";
/// Page sizes small enough that every listing has several pages.
const PAGE: usize = 2;
/// Generous for a noisy 2-core machine: the slowest cases take about 60 s.
const ENDS_WITHIN: Duration = Duration::from_secs(150);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Graph,
    Scim,
    KeyVault,
    Identity,
}

/// What the faulted run must come to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The run fails (HTTP 502); the workspace's error contains every one of these.
    Fails(&'static [&'static str]),
    /// The fault is ridden out: the run succeeds and the workspace converges at once.
    Converges,
    /// The read was taken as incomplete without failing: the run is `partial` (HTTP 200), the
    /// workspace's `removalsWaiting` contains every one of these, the leaver keeps its access and no
    /// removal is sent.
    Waits(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    fault: Fault,
    /// `None`: until cleared; `Some(n)`: the next `n` matching requests.
    times: Option<usize>,
    expect: Expect,
    /// The fault hits a read, so the run must not send a single write.
    no_writes: bool,
    /// Members of the Entra group the workspace lacks, besides `NEWCOMER`.
    more_newcomers: usize,
    /// At most this many requests of this method, to paths containing this, reach the faulted API
    /// during the faulted run: retries and paging are bounded.
    at_most: Option<(Method, &'static str, usize)>,
    /// A failed action's detail says this.
    action_says: Option<&'static str>,
}

fn case(name: &'static str, fault: Fault, times: Option<usize>, expect: Expect) -> Case {
    Case {
        name,
        fault,
        times,
        expect,
        no_writes: matches!(expect, Expect::Fails(_)),
        more_newcomers: 0,
        at_most: None,
        action_says: None,
    }
}

impl Case {
    fn at_most(mut self, method: Method, path: &'static str, requests: usize) -> Case {
        self.at_most = Some((method, path, requests));
        self
    }

    /// A fault on writes: the reads went through, so writes happen.
    fn on_writes(mut self, action_says: &'static str) -> Case {
        self.no_writes = false;
        self.action_says = Some(action_says);
        self
    }
}

/// `new00@contoso.com`, ...: more newcomers.
fn newcomer(i: usize) -> String {
    format!("new{i:02}@contoso.com")
}

/// A world as after earlier syncs (see the module header), with `deprovision` on and
/// `more_newcomers` more users to create.
async fn managed_world(deprovision: &str, more_newcomers: usize) -> (World, Workspace, String) {
    let world = World::start().await.unwrap();
    let tenant = &world.tenant;
    tenant.set_max_page_size(PAGE);
    let group = tenant.add_group(GROUP);
    let newcomers = (0..more_newcomers).map(newcomer);
    for name in SYNCED
        .iter()
        .map(|n| n.to_string())
        .chain([NEWCOMER.to_owned()])
        .chain(newcomers)
    {
        let user = tenant.add_user(NewUser::member(&name, &name));
        tenant.add_member(&group, &user);
    }
    tenant.add_user(NewUser::member(LEAVER, LEAVER));
    let ws = world.add_workspace("analytics").await.unwrap();
    ws.scim.set_max_page_size(PAGE);
    let marker = ws.scim.add_group(MARKER);
    for name in SYNCED.iter().chain([&LEAVER]) {
        let user = ws.scim.add_user(name, name, true);
        ws.scim.add_member(&marker, &user);
    }
    ws.scim.add_user(HANDMADE, "Created by hand", true);
    let mut entry = World::config_entry(&ws, &[GROUP]);
    entry["deprovision"] = json!(deprovision);
    entry["maxDeprovision"] = json!(10);
    let config = json!({ "workspaces": [entry] }).to_string();
    (world, ws, config)
}

/// Every user of the workspace as `(userName, active, in the marker group)`, sorted.
fn state(ws: &Workspace) -> Vec<(String, bool, bool)> {
    let mut users: Vec<(String, bool, bool)> = ws
        .scim
        .users()
        .into_iter()
        .map(|u| {
            let marked = u.groups.iter().any(|g| g == MARKER);
            (u.user_name, u.active, marked)
        })
        .collect();
    users.sort();
    users
}

/// The state every case must end in once the fault has cleared.
fn converged(deprovision: &str, more_newcomers: usize) -> Vec<(String, bool, bool)> {
    let mut users: Vec<(String, bool, bool)> = SYNCED
        .iter()
        .map(|n| n.to_string())
        .chain([NEWCOMER.to_owned()])
        .chain((0..more_newcomers).map(newcomer))
        .map(|n| (n, true, true))
        .collect();
    users.push((sandbox::scim::ADMIN_USER_NAME.to_owned(), true, false));
    users.push((HANDMADE.to_owned(), true, false));
    if deprovision == "deactivate" {
        users.push((LEAVER.to_owned(), false, true));
    }
    users.sort();
    users
}

/// Nobody still desired lost or deactivated; the hand-made user and the admin untouched.
fn nobody_wrongly_deprovisioned(ws: &Workspace) -> Result<(), String> {
    let now = state(ws);
    let keep = SYNCED
        .iter()
        .chain([&HANDMADE, &sandbox::scim::ADMIN_USER_NAME]);
    for name in keep {
        match now.iter().find(|(n, _, _)| n == name) {
            Some((_, true, _)) => {}
            Some(_) => return Err(format!("{name} was deactivated")),
            None => return Err(format!("{name} was removed")),
        }
    }
    Ok(())
}

fn faults_of<'a>(api: Api, world: &'a World, ws: &'a Workspace) -> &'a Faults {
    match api {
        Api::Graph => world.tenant.faults(),
        Api::Scim => ws.scim.faults(),
        Api::KeyVault => world.vault.faults(),
        Api::Identity => world.identity.faults(),
    }
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// Runs one case; `Ok` with what happened, `Err` with what went wrong.
async fn run_case(api: Api, deprovision: &'static str, case: Case) -> Result<String, String> {
    let (world, ws, config) = managed_world(deprovision, case.more_newcomers).await;
    let handler = Handler::start(&config, &world.handler_env()).await;
    let faults = faults_of(api, &world, &ws);
    match case.times {
        None => faults.inject_persistent(case.fault.clone()),
        Some(n) => faults.inject(case.fault.clone(), n),
    }
    let started = Instant::now();
    let (code, report) = tokio::time::timeout(ENDS_WITHIN, sync_http(&handler, json!({})))
        .await
        .map_err(|_| format!("no report within {ENDS_WITHIN:?}"))?;
    let took = started.elapsed();
    let workspace = &report["workspaces"][0];
    let error = workspace["error"].as_str().unwrap_or("").to_owned();
    match case.expect {
        Expect::Fails(needles) => {
            ensure!(
                code == 502 && workspace["status"] == "failed",
                "expected a failed run, got {code}: {report}"
            );
            for needle in needles {
                ensure!(
                    error.contains(needle),
                    "the error does not say {needle:?}: {error}"
                );
            }
        }
        Expect::Waits(needles) => {
            ensure!(
                code == 200 && workspace["status"] == "partial",
                "expected a partial run, got {code}: {report}"
            );
            let waiting = workspace["removalsWaiting"].as_str().unwrap_or("");
            for needle in needles {
                ensure!(
                    waiting.contains(needle),
                    "removalsWaiting does not say {needle:?}: {report}"
                );
            }
            let leaver = state(&ws).into_iter().find(|(n, _, _)| n == LEAVER);
            ensure!(
                leaver.as_ref().is_some_and(|(_, active, _)| *active),
                "the leaver lost access on an incomplete read: {leaver:?}"
            );
            let removals: Vec<_> = (ws.scim.faults().log().into_iter())
                .filter(|r| r.method == Method::DELETE)
                .map(|r| r.path)
                .collect();
            ensure!(
                removals.is_empty(),
                "removals on an incomplete read: {removals:?}"
            );
        }
        Expect::Converges => {
            ensure!(
                code == 200,
                "expected a successful run, got {code}: {report}"
            );
            ensure!(
                state(&ws) == converged(deprovision, case.more_newcomers),
                "not converged after the run that rode the fault out: {:?}",
                state(&ws)
            );
        }
    }
    nobody_wrongly_deprovisioned(&ws)?;
    if let Some((method, path, most)) = &case.at_most {
        let sent = faults.count(method, path);
        ensure!(
            sent <= *most,
            "{sent} {method} requests to {path}, more than {most}: retries are not bounded"
        );
    }
    if let Some(says) = case.action_says {
        let said = report.to_string().contains(says);
        ensure!(said, "no failed action says {says:?}: {report}");
    }
    if case.no_writes {
        let writes: Vec<_> = ws
            .scim
            .faults()
            .log()
            .into_iter()
            .filter(|r| sandbox::faults::is_write(&r.method))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        ensure!(
            writes.is_empty(),
            "writes despite a failed read: {writes:?}"
        );
    }

    faults.clear();
    let (again, second) = sync_http(&handler, json!({})).await;
    ensure!(
        again == 200,
        "the run after the fault cleared did not succeed ({again}): {second}"
    );
    ensure!(
        state(&ws) == converged(deprovision, case.more_newcomers),
        "not converged after the fault cleared: {:?}",
        state(&ws)
    );
    let mut outputs = handler_outputs(&handler);
    outputs.push(("the faulted run's report", report.to_string()));
    outputs.push(("the next run's report", second.to_string()));
    assert_no_leak(&secrets_of(&world), &outputs);
    Ok(format!("{} ms, {error}", took.as_millis()))
}

/// Runs every case at once, each in its own world; fails listing every case that went wrong.
async fn run_matrix(api: Api, deprovision: &'static str, cases: Vec<Case>) {
    let tasks: Vec<_> = cases
        .into_iter()
        .map(|case| {
            let name = case.name;
            (name, tokio::spawn(run_case(api, deprovision, case)))
        })
        .collect();
    let mut failures = Vec::new();
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(summary)) => eprintln!("{api:?} × {name}: ok ({summary})"),
            Ok(Err(why)) => failures.push(format!("{api:?} × {name}: {why}")),
            Err(panic) => failures.push(format!("{api:?} × {name}: panicked: {panic}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const MEMBERS: &str = "transitiveMembers";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_faults_fail_the_run_in_words_deprovision_nobody_and_the_next_run_converges() {
    use Expect::{Converges, Fails, Waits};
    let cases = vec![
        case(
            "429 with Retry-After",
            Fault::throttled("1"),
            None,
            Fails(&[
                "looking up group \"Databricks-Group-Test\"",
                "HTTP 429",
                "after 7 attempts",
            ]),
        )
        .at_most(Method::GET, "/groups", 7),
        case(
            "503",
            Fault::status(503),
            None,
            Fails(&["looking up group", "HTTP 503", "after 7 attempts"]),
        )
        .at_most(Method::GET, "/groups", 7),
        case(
            "503 twice",
            Fault::status(503).on_path(MEMBERS),
            Some(2),
            Converges,
        ),
        case(
            "no answer once",
            Fault::no_answer().on_path(MEMBERS),
            Some(1),
            Converges,
        ),
        case(
            "connection closed",
            Fault::reset(),
            None,
            Fails(&["looking up group", "no answer after 7 attempts", "closed"]),
        )
        .at_most(Method::GET, "/groups", 7),
        case(
            "connection closed once",
            Fault::reset().on_path(MEMBERS),
            Some(1),
            Converges,
        ),
        case(
            "invalid JSON",
            Fault::invalid_json().on_path(MEMBERS),
            Some(1),
            Fails(&["listing members of group", "the answer could not be read"]),
        ),
        case(
            "cut off",
            Fault::cut_off().on_path(MEMBERS).on_query("skiptoken"),
            Some(1),
            Fails(&["listing members of group", "the answer was cut off"]),
        ),
        // A listing shorter than its count is read once more: once is ridden out, twice waits.
        case(
            "truncated page once",
            Fault::truncated_page().on_path(MEMBERS),
            Some(1),
            Converges,
        )
        .at_most(Method::GET, MEMBERS, 6),
        case(
            "truncated page",
            Fault::truncated_page().on_path(MEMBERS),
            None,
            Waits(&[
                "group \"Databricks-Group-Test\": Graph counted 6 user member(s) (@odata.count) but listed 3",
                "on two reads in a row",
            ]),
        )
        .at_most(Method::GET, MEMBERS, 6),
        case(
            "empty page",
            Fault::empty_page().on_path(MEMBERS),
            None,
            Waits(&["Graph counted 6 user member(s) (@odata.count) but listed 0"]),
        ),
        case(
            "count ahead of the listing once",
            Fault::odata_count(7).on_path(MEMBERS),
            Some(1),
            Converges,
        ),
        case(
            "count ahead of the listing",
            Fault::odata_count(7).on_path(MEMBERS),
            None,
            Waits(&["Graph counted 7 user member(s) (@odata.count) but listed 6"]),
        ),
        case(
            "nextLink repeats",
            Fault::repeated_next_link().on_path(MEMBERS),
            None,
            Fails(&[
                "listing members of group",
                "leads back to a page already read",
            ]),
        ),
        case(
            "nextLink to another host",
            Fault::foreign_next_link("https://graph.microsoft.com.evil.example").on_path(MEMBERS),
            None,
            Fails(&[
                "listing members of group",
                "@odata.nextLink leads to https://graph.microsoft.com.evil.example, not to the configured \
                 Graph endpoint",
            ]),
        ),
        case(
            "403 on the group look-up",
            Fault::status(403),
            None,
            Fails(&[
                "looking up group \"Databricks-Group-Test\": HTTP 403",
                "needs the application permission GroupMember.Read.All",
                "app's managed identity",
            ]),
        )
        .at_most(Method::GET, "/groups", 1),
        case(
            "403 on the member listing",
            Fault::status(403).on_path(MEMBERS),
            None,
            Fails(&[
                "listing members of group \"Databricks-Group-Test\": HTTP 403",
                "needs the application permission GroupMember.Read.All",
                "Member.Read.Hidden",
            ]),
        )
        .at_most(Method::GET, MEMBERS, 1),
        case(
            "nextLink never ends",
            Fault::endless_next_link().on_path(MEMBERS),
            None,
            Fails(&[
                "listing members of group",
                "paging did not end after 2000 pages",
            ]),
        )
        .at_most(Method::GET, MEMBERS, 2000),
    ];
    run_matrix(Api::Graph, "deactivate", cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_faults_fail_the_run_in_words_deprovision_nobody_and_the_next_run_converges() {
    use Expect::{Converges, Fails};
    let list = |fault: Fault| fault.on_method(Method::GET).on_path("/Users");
    let mut cases = vec![
        case(
            "429 with Retry-After",
            list(Fault::throttled("1")),
            None,
            Fails(&["listing workspace users", "HTTP 429", "after 7 attempts"]),
        )
        .at_most(Method::GET, "/Users", 7),
        case(
            "503",
            list(Fault::status(503)),
            None,
            Fails(&["listing workspace users", "HTTP 503", "after 7 attempts"]),
        )
        .at_most(Method::GET, "/Users", 7),
        case(
            "no answer once",
            list(Fault::no_answer()),
            Some(1),
            Converges,
        ),
        case(
            "connection closed",
            list(Fault::reset()),
            None,
            Fails(&[
                "listing workspace users",
                "no answer after 7 attempts",
                "closed",
            ]),
        )
        .at_most(Method::GET, "/Users", 7),
        case(
            "invalid JSON",
            list(Fault::invalid_json()),
            Some(1),
            Fails(&["listing workspace users", "the answer could not be read"]),
        ),
        case(
            "cut off",
            list(Fault::cut_off()).on_query("startIndex=3"),
            Some(1),
            Fails(&["listing workspace users", "the answer was cut off"]),
        ),
        case(
            "truncated pages",
            list(Fault::truncated_page()),
            None,
            Converges,
        ),
        case(
            "empty first page",
            list(Fault::empty_page()),
            Some(1),
            Fails(&[
                "listing workspace users",
                "the first page is empty while totalResults is 8",
            ]),
        ),
        case(
            "totalResults too small",
            list(Fault::total_results(1)),
            None,
            Converges,
        ),
        case(
            "403",
            list(Fault::status(403)),
            None,
            Fails(&[
                "the token from Key Vault may not manage users, groups or service principals",
                "listing workspace users: HTTP 403",
                "must be a workspace admin",
                "`admins` group",
            ]),
        )
        .at_most(Method::GET, "/Users", 1),
        case(
            "startIndex ignored",
            list(Fault::ignore_start_index(None)),
            None,
            Fails(&["listing workspace users", "paging does not advance"]),
        )
        .at_most(Method::GET, "/Users", 2),
        case(
            "startIndex ignored, totalResults huge",
            list(Fault::ignore_start_index(Some(1_000_000))),
            None,
            Fails(&["listing workspace users", "paging does not advance"]),
        )
        .at_most(Method::GET, "/Users", 2),
    ];
    // Faults on writes: the change fails and is reported, the next run completes it. A workspace
    // that gives no usable answer to one call is taken as down for the rest of the sync: the changes
    // after it are reported failed without being sent, so it costs one call's retries, not every
    // pending change's (13 creations would take 13 x 7 requests and as many back-offs).
    let mut stops_answering = case(
        "no answer to any creation",
        Fault::reset().on_method(Method::POST).on_path("/Users"),
        None,
        Fails(&["change(s) failed"]),
    )
    .on_writes("not sent: the workspace stopped answering (creating user ")
    .at_most(Method::POST, "/Users", 4 * 7);
    stops_answering.more_newcomers = 12;
    cases.extend([
        case(
            "503 on creating a user",
            Fault::status(503).on_method(Method::POST).on_path("/Users"),
            None,
            Fails(&["change(s) failed"]),
        )
        .on_writes("creating user user5@contoso.com: HTTP 503 after 7 attempts")
        .at_most(Method::POST, "/Users", 7),
        case(
            "connection closed on a membership change",
            Fault::reset().on_method(Method::PATCH).on_path("/Groups"),
            None,
            Fails(&["change(s) failed"]),
        )
        .on_writes("no answer after 7 attempts"),
        stops_answering,
        case(
            "403 on creating a user",
            Fault::status(403).on_method(Method::POST).on_path("/Users"),
            None,
            Fails(&["change(s) failed"]),
        )
        .on_writes("creating user user5@contoso.com: HTTP 403")
        .at_most(Method::POST, "/Users", 1),
        case(
            "503 on /Me",
            Fault::status(503).on_path("/Me"),
            None,
            Fails(&["cannot read the token's own identity (/Me)", "HTTP 503"]),
        ),
    ]);
    run_matrix(Api::Scim, "remove", cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_faults_fail_the_run_in_words_deprovision_nobody_and_the_next_run_converges() {
    use Expect::{Converges, Fails};
    const SECRET: &str = "cannot read the workspace token from Key Vault secret https://kv-dbx-sync.vault.azure.net/secrets/analytics-pat";
    let cases = vec![
        case(
            "429 with Retry-After",
            Fault::throttled("1"),
            None,
            Fails(&[SECRET, "HTTP 429", "throttling"]),
        )
        .at_most(Method::GET, "/secrets", 5),
        case(
            "503",
            Fault::status(503),
            None,
            Fails(&[SECRET, "HTTP 503", "unavailable"]),
        )
        .at_most(Method::GET, "/secrets", 5),
        case("503 twice", Fault::status(503), Some(2), Converges),
        case("no answer once", Fault::no_answer(), Some(1), Converges),
        case(
            "connection closed",
            Fault::reset(),
            None,
            Fails(&[SECRET, "could not be reached"]),
        ),
        case(
            "403",
            Fault::status(403),
            None,
            Fails(&[
                SECRET,
                "HTTP 403",
                "from vault kv-dbx-sync.vault.azure.net",
                "\"Key Vault Secrets User\"",
                "an access policy for the app's identity with Get on secrets",
            ]),
        )
        .at_most(Method::GET, "/secrets", 2),
        case(
            "invalid JSON",
            Fault::invalid_json(),
            None,
            Fails(&[SECRET, "the answer could not be read"]),
        ),
        case(
            "cut off",
            Fault::cut_off(),
            None,
            Fails(&[SECRET, "the answer was cut off"]),
        ),
    ];
    run_matrix(Api::KeyVault, "remove", cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_endpoint_faults_fail_the_run_in_words_deprovision_nobody_and_the_next_run_converges()
 {
    use Expect::{Converges, Fails};
    const NO_TOKEN: &str = "the system-assigned managed identity could not get a token for https://graph.microsoft.com/.default";
    let cases = vec![
        case(
            "429 with Retry-After",
            Fault::throttled("1"),
            None,
            Fails(&[NO_TOKEN, "HTTP 429"]),
        )
        .at_most(Method::GET, "/msi/token", 5),
        case(
            "503",
            Fault::status(503),
            None,
            Fails(&[NO_TOKEN, "HTTP 503"]),
        )
        .at_most(Method::GET, "/msi/token", 5),
        case("no answer once", Fault::no_answer(), Some(1), Converges),
        case(
            "connection closed",
            Fault::reset(),
            None,
            Fails(&[NO_TOKEN, "connection closed"]),
        ),
        case(
            "invalid JSON",
            Fault::invalid_json(),
            None,
            Fails(&[NO_TOKEN, "the answer could not be read"]),
        ),
        case(
            "cut off",
            Fault::cut_off(),
            None,
            Fails(&[NO_TOKEN, "the answer was cut off"]),
        ),
    ];
    run_matrix(Api::Identity, "deactivate", cases).await;
}
