//! Account mode (`identities: "account"`) through the real `handler` against the emulated Databricks
//! account and its identity-federated workspaces: each principal created once at the account however
//! many workspaces want it, each workspace given exactly its assignments, a run without changes that
//! writes nothing, moves between groups and workspaces, assignments made by others never touched, the
//! threshold, and mirrored groups as account groups assigned once per group.

use axum::http::Method;
use sandbox::account::Account;
use sandbox::graph::NewUser;
use sandbox::identity::SYSTEM_IDENTITY;
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};

use crate::support::{Handler, sync_http};

const ACCOUNT_ID: &str = "7f3a9c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b";

pub(crate) struct Estate {
    pub(crate) world: World,
    pub(crate) account: Account,
    pub(crate) a: Workspace,
    pub(crate) b: Workspace,
}

/// Two federated workspaces of one account; Entra groups "Dbx-A" (ana, bo, cy) and "Dbx-B" (cy, dee).
pub(crate) async fn estate() -> Estate {
    let world = World::start().await.unwrap();
    let account = world.add_account(ACCOUNT_ID).await.unwrap();
    account.admit_identity(SYSTEM_IDENTITY);
    let t = &world.tenant;
    let group_a = t.add_group("Dbx-A");
    let group_b = t.add_group("Dbx-B");
    for who in ["ana", "bo", "cy", "dee"] {
        let user = t.add_user(NewUser::member(&format!("{who}@contoso.com"), who));
        if ["ana", "bo", "cy"].contains(&who) {
            t.add_member(&group_a, &user);
        }
        if ["cy", "dee"].contains(&who) {
            t.add_member(&group_b, &user);
        }
    }
    let a = world.add_workspace("ws-a").await.unwrap();
    let b = world.add_workspace("ws-b").await.unwrap();
    account.add_workspace(a.workspace_id(), &a.scim);
    account.add_workspace(b.workspace_id(), &b.scim);
    Estate {
        world,
        account,
        a,
        b,
    }
}

pub(crate) fn config(estate: &Estate, defaults: Value) -> String {
    let mut a = World::config_entry(&estate.a, &["Dbx-A"]);
    let mut b = World::config_entry(&estate.b, &["Dbx-B"]);
    for entry in [&mut a, &mut b] {
        entry["identities"] = json!("account");
    }
    json!({
        "account": {"accountId": ACCOUNT_ID},
        "defaults": defaults,
        "workspaces": [a, b],
    })
    .to_string()
}

/// The user names (or group names) assigned to a workspace, sorted, with their permission.
fn assigned(estate: &Estate, ws: &Workspace) -> Vec<(String, &'static str)> {
    let mut names: Vec<(String, &'static str)> = (estate.account.assignments(ws.workspace_id()))
        .into_iter()
        .map(|(id, permission)| (estate.account.name_of(&id), permission))
        .collect();
    names.sort();
    names
}

/// The users a workspace's own SCIM API lists, but the workspace's seeded admin, sorted.
fn listed(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = (ws.scim.users().into_iter())
        .map(|u| u.user_name)
        .filter(|name| name != "admin@contoso.com")
        .collect();
    names.sort();
    names
}

/// Whether `who@contoso.com` is assigned to a workspace.
fn is_assigned(estate: &Estate, ws: &Workspace, who: &str) -> bool {
    let name = format!("{who}@contoso.com");
    assigned(estate, ws).iter().any(|(n, _)| *n == name)
}

fn users(names: &[&str]) -> Vec<(String, &'static str)> {
    names
        .iter()
        .map(|n| (format!("{n}@contoso.com"), "USER"))
        .collect()
}

/// The account's writes (every request but GET) after the first `seen` requests of its log; `seen`
/// moves to the end of the log.
fn writes(account: &Account, seen: &mut usize) -> Vec<String> {
    let log = account.faults().log();
    let new = log.len().saturating_sub(*seen);
    *seen = log.len();
    (log.into_iter().rev().take(new).rev())
        .filter(|r| r.method != Method::GET)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn workspace<'r>(report: &'r Value, name: &str) -> &'r Value {
    (report["workspaces"].as_array().unwrap().iter())
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test]
async fn each_principal_is_made_once_at_the_account_and_each_workspace_gets_exactly_its_assignments()
 {
    let e = estate().await;
    let defaults = json!({"deprovision": "deactivate"});
    let handler = Handler::start(&config(&e, defaults), &e.world.handler_env()).await;

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["status"], "succeeded", "{report:#}");
    let account = &report["account"];
    assert_eq!(account["name"], ACCOUNT_ID);
    assert_eq!(account["users"]["desired"], 4, "{account:#}");
    assert_eq!(
        account["users"]["created"], 4,
        "cy once, not once per workspace"
    );
    let mut names: Vec<String> = (e.account.users().into_iter())
        .map(|u| {
            assert!(u.external_id.is_some(), "{u:?} has its Entra object id");
            u.user_name
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ana", "bo", "cy", "dee"].map(|n| format!("{n}@contoso.com"))
    );
    assert_eq!(assigned(&e, &e.a), users(&["ana", "bo", "cy"]));
    assert_eq!(assigned(&e, &e.b), users(&["cy", "dee"]));
    let ws_a = workspace(&report, "ws-a");
    assert_eq!(ws_a["assignments"]["assigned"], 3, "{ws_a:#}");
    assert_eq!(workspace(&report, "ws-b")["assignments"]["assigned"], 2);
    // Federation: the workspace lists the account users assigned to it (and its own admin).
    assert_eq!(
        listed(&e.a),
        ["ana", "bo", "cy"].map(|n| format!("{n}@contoso.com"))
    );
    // Writes: 4 creations, the marker (one PATCH, its group created), 2 record groups with one PATCH
    // each, 5 assignments.
    let mut seen = 0;
    let first = writes(&e.account, &mut seen);
    let puts = first.iter().filter(|w| w.starts_with("PUT")).count();
    assert_eq!(puts, 5, "{first:#?}");

    let (_, again) = sync_http(&handler, json!({})).await;
    assert_eq!(again["status"], "succeeded", "{again:#}");
    assert_eq!(
        writes(&e.account, &mut seen),
        Vec::<String>::new(),
        "nothing changed"
    );
    assert_eq!(workspace(&again, "ws-a")["assignments"]["existing"], 3);

    // A user deactivated in the account (by an account admin) is reactivated there, once.
    let dee = e.account.user_id("dee@contoso.com").unwrap();
    e.account.set_active(&dee, false);
    let (_, reactivated) = sync_http(&handler, json!({})).await;
    assert_eq!(
        reactivated["account"]["users"]["reactivated"], 1,
        "{reactivated:#}"
    );
    assert_eq!(
        writes(&e.account, &mut seen),
        [format!(
            "PATCH /api/2.0/accounts/{ACCOUNT_ID}/scim/v2/Users/{dee}"
        )]
    );
    assert!(e.account.users().iter().any(|u| u.id == dee && u.active));

    // bo moves from A to B; an assignment someone else made (eve) stays; cy is made an admin of ws-b by
    // hand and is never turned into a user.
    let t = &e.world.tenant;
    let bo = t.user_id("bo@contoso.com").unwrap();
    t.remove_member(&t.group_id("Dbx-A").unwrap(), &bo);
    t.add_member(&t.group_id("Dbx-B").unwrap(), &bo);
    let eve = e.account.add_user("eve@contoso.com", "eve");
    e.account.assign(e.a.workspace_id(), &eve, "USER");
    let cy = e.account.user_id("cy@contoso.com").unwrap();
    e.account.assign(e.b.workspace_id(), &cy, "ADMIN");
    let (_, moved) = sync_http(&handler, json!({})).await;
    assert_eq!(moved["status"], "succeeded", "{moved:#}");
    let mut expected_a = users(&["ana", "cy", "eve"]);
    expected_a.sort();
    assert_eq!(assigned(&e, &e.a), expected_a, "bo taken back, eve kept");
    let mut expected_b = users(&["bo", "dee"]);
    expected_b.push(("cy@contoso.com".to_owned(), "ADMIN"));
    expected_b.sort();
    assert_eq!(assigned(&e, &e.b), expected_b);
    assert_eq!(workspace(&moved, "ws-a")["assignments"]["unassigned"], 1);
    assert_eq!(moved["account"]["users"]["created"], 0);
    assert!(
        e.account
            .users()
            .iter()
            .any(|u| u.user_name == "bo@contoso.com" && u.active),
        "bo stays an active account user"
    );
}

#[tokio::test]
async fn assignments_are_never_taken_back_without_deprovision_nor_beyond_the_threshold() {
    let e = estate().await;
    // The default: deprovision "none".
    let handler = Handler::start(&config(&e, json!({})), &e.world.handler_env()).await;
    let (_, report) = sync_http(&handler, json!({})).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    let t = &e.world.tenant;
    let group_a = t.group_id("Dbx-A").unwrap();
    for who in ["ana", "bo"] {
        t.remove_member(&group_a, &t.user_id(&format!("{who}@contoso.com")).unwrap());
    }
    let (_, kept) = sync_http(&handler, json!({})).await;
    assert_eq!(kept["status"], "succeeded", "{kept:#}");
    assert_eq!(assigned(&e, &e.a), users(&["ana", "bo", "cy"]));
    drop(handler);

    // With deprovisioning on and a threshold of 1, two leavers are held, and the workspace fails.
    let defaults = json!({"deprovision": "deactivate", "maxDeprovision": 1});
    let handler = Handler::start(&config(&e, defaults), &e.world.handler_env()).await;
    let (_, held) = sync_http(&handler, json!({})).await;
    let ws_a = workspace(&held, "ws-a");
    assert_eq!(ws_a["status"], "failed", "{ws_a:#}");
    assert!(
        ws_a["deprovisioningHeld"]
            .as_str()
            .is_some_and(|r| r.contains("maxDeprovision 1")),
        "{ws_a:#}"
    );
    assert_eq!(assigned(&e, &e.a), users(&["ana", "bo", "cy"]));
    // Confirmed: taken back.
    let (_, confirmed) = sync_http(&handler, json!({"allowDeprovision": true})).await;
    assert_eq!(confirmed["status"], "succeeded", "{confirmed:#}");
    assert_eq!(assigned(&e, &e.a), users(&["cy"]));
}

#[tokio::test]
async fn mirrored_groups_are_account_groups_assigned_once_per_workspace() {
    let e = estate().await;
    let handler = Handler::start(
        &config(&e, json!({"mirrorGroups": true})),
        &e.world.handler_env(),
    )
    .await;
    let (_, report) = sync_http(&handler, json!({})).await;
    assert_eq!(report["status"], "succeeded", "{report:#}");
    let group = |name: &str| {
        let id = e
            .account
            .group_id(name)
            .unwrap_or_else(|| panic!("no {name}"));
        let mut members: Vec<String> = (e.account.members(&id).iter())
            .map(|m| e.account.name_of(m))
            .collect();
        members.sort();
        members
    };
    assert_eq!(
        group("Dbx-A"),
        ["ana", "bo", "cy"].map(|n| format!("{n}@contoso.com"))
    );
    assert_eq!(
        group("Dbx-B"),
        ["cy", "dee"].map(|n| format!("{n}@contoso.com"))
    );
    assert_eq!(assigned(&e, &e.a), [("Dbx-A".to_owned(), "USER")]);
    assert_eq!(assigned(&e, &e.b), [("Dbx-B".to_owned(), "USER")]);
    // Federation through the group: its members are in the workspace.
    assert_eq!(
        listed(&e.b),
        ["cy", "dee"].map(|n| format!("{n}@contoso.com"))
    );
    let mut seen = 0;
    let first = writes(&e.account, &mut seen);
    let assignments = first.iter().filter(|w| w.starts_with("PUT")).count();
    assert_eq!(assignments, 2, "one per group and workspace: {first:#?}");
    let (_, again) = sync_http(&handler, json!({})).await;
    assert_eq!(again["status"], "succeeded", "{again:#}");
    assert_eq!(writes(&e.account, &mut seen), Vec::<String>::new());
}

#[tokio::test]
async fn a_principal_nobody_wants_is_deactivated_at_the_account_unless_an_admin_or_wanted_elsewhere()
 {
    let e = estate().await;
    let t = &e.world.tenant;
    let (group_a, group_b) = (t.group_id("Dbx-A").unwrap(), t.group_id("Dbx-B").unwrap());
    for who in ["eli", "fay"] {
        let user = t.add_user(NewUser::member(&format!("{who}@contoso.com"), who));
        t.add_member(&group_a, &user);
    }
    // ws-c stays in workspace mode and wants ana.
    let c = e.world.add_workspace("ws-c").await.unwrap();
    let group_c = t.add_group("Dbx-C");
    t.add_member(&group_c, &t.user_id("ana@contoso.com").unwrap());
    let mut config: Value =
        serde_json::from_str(&config(&e, json!({"deprovision": "deactivate"}))).unwrap();
    let entries = config["workspaces"].as_array_mut().unwrap();
    entries.push(World::config_entry(&c, &["Dbx-C"]));
    let handler = Handler::start(&config.to_string(), &e.world.handler_env()).await;
    let (_, first) = sync_http(&handler, json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    assert_eq!(first["account"]["users"]["created"], 6, "{first:#}");

    // bo is an account admin; cy is one through a group with the role; dee is a workspace admin through
    // a group assigned ADMIN to ws-b.
    let id = |who: &str| e.account.user_id(&format!("{who}@contoso.com")).unwrap();
    e.account.grant_account_admin(&id("bo"));
    let platform = e.account.add_group("Platform", &[&id("cy")]);
    e.account.grant_account_admin(&platform);
    let leads = e.account.add_group("ws-b-leads", &[&id("dee")]);
    e.account.assign(e.b.workspace_id(), &leads, "ADMIN");
    for who in ["ana", "bo", "cy", "dee", "fay"] {
        let user = t.user_id(&format!("{who}@contoso.com")).unwrap();
        t.remove_member(&group_a, &user);
        t.remove_member(&group_b, &user);
    }
    let (_, left) = sync_http(&handler, json!({})).await;
    assert_eq!(
        left["account"]["status"], "succeeded",
        "{:#}",
        left["account"]
    );
    assert_eq!(
        left["account"]["users"]["deactivated"], 1,
        "{:#}",
        left["account"]
    );
    let active = |who: &str| {
        let name = format!("{who}@contoso.com");
        e.account
            .users()
            .iter()
            .any(|u| u.user_name == name && u.active)
    };
    assert!(!active("fay"), "nobody wants fay");
    for kept in ["ana", "bo", "cy", "dee", "eli"] {
        assert!(active(kept), "{kept} stays active at the account");
    }
    assert_eq!(
        assigned(&e, &e.a),
        users(&["eli"]),
        "the leavers' assignments are taken back"
    );

    // A run of one account-mode workspace deprovisions nobody at the account: the other may want them.
    t.remove_member(&group_a, &t.user_id("eli@contoso.com").unwrap());
    let (_, partial) = sync_http(&handler, json!({"workspaces": ["ws-a"]})).await;
    assert_eq!(partial["status"], "succeeded", "{partial:#}");
    assert!(active("eli"));
    assert_eq!(assigned(&e, &e.a), Vec::new());
    let (_, full) = sync_http(&handler, json!({})).await;
    assert_eq!(full["account"]["users"]["deactivated"], 1, "{full:#}");
    assert!(!active("eli"));
}

/// The id of the workspace's `admins` group.
fn admins_of(ws: &Workspace) -> String {
    (ws.scim.groups().into_iter())
        .find(|g| g.display_name == "admins")
        .map(|g| g.id)
        .expect("every workspace has admins")
}

#[tokio::test]
async fn a_workspace_admin_by_the_workspaces_own_admins_group_keeps_the_assignment_and_the_account_user()
 {
    let e = estate().await;
    let t = &e.world.tenant;
    let (group_a, group_b) = (t.group_id("Dbx-A").unwrap(), t.group_id("Dbx-B").unwrap());
    let eli = t.add_user(NewUser::member("eli@contoso.com", "eli"));
    t.add_member(&group_a, &eli);
    let defaults = json!({"deprovision": "deactivate"});
    let handler = Handler::start(&config(&e, defaults), &e.world.handler_env()).await;
    let (_, first) = sync_http(&handler, json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");

    // Made admins in the workspaces themselves, not by an assignment: bo a direct member of ws-a's
    // admins; cy through the workspace-local group "ops" nested in it; dee through the account group
    // "owners" (assigned to ws-b as USER) nested in ws-b's admins.
    let id = |who: &str| e.account.user_id(&format!("{who}@contoso.com")).unwrap();
    let (admins_a, admins_b) = (admins_of(&e.a), admins_of(&e.b));
    e.a.scim.add_member(&admins_a, &id("bo"));
    let ops = e.a.scim.add_group("ops");
    e.a.scim.add_member(&ops, &id("cy"));
    e.a.scim.add_member(&admins_a, &ops);
    let owners = e.account.add_group("owners", &[&id("dee")]);
    e.account.assign(e.b.workspace_id(), &owners, "USER");
    e.b.scim.nest_account_group(&admins_b, &owners);
    for who in ["ana", "bo", "cy", "dee"] {
        let user = t.user_id(&format!("{who}@contoso.com")).unwrap();
        t.remove_member(&group_a, &user);
        t.remove_member(&group_b, &user);
    }

    // While "ops" cannot be read, who is an admin of ws-a is not known: nothing is taken back there,
    // and nobody is deactivated at the account.
    let ops_path = format!("/Groups/{ops}");
    (e.a.scim.faults()).inject_persistent(
        sandbox::faults::Fault::status(403)
            .on_method(Method::GET)
            .on_path(&ops_path),
    );
    let (_, held) = sync_http(&handler, json!({})).await;
    let account = &held["account"];
    assert_eq!(account["users"]["deactivated"], 0, "{account:#}");
    let reason = account["deprovisioningHeld"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "ws-a: the group \"ops\" (id {ops}) in admins cannot be read: the account has no such \
             group, and the workspace's answer:"
        )),
        "{account:#}"
    );
    let ws_a = &held["workspaces"][0];
    assert_eq!(ws_a["status"], "failed", "{ws_a:#}");
    assert!(
        (ws_a.to_string())
            .contains("taking back held: who is a workspace admin cannot be established"),
        "{ws_a:#}"
    );
    for who in ["ana", "bo", "cy", "eli"] {
        assert!(
            is_assigned(&e, &e.a, who),
            "{who} keeps ws-a while its admins are not known"
        );
    }

    // Readable: ana is taken back from ws-a and deactivated at the account; bo and cy, admins of ws-a,
    // keep ws-a and stay active; dee, an admin of ws-b, keeps ws-b; cy is no admin of ws-b and leaves it.
    e.a.scim.faults().clear();
    let (_, left) = sync_http(&handler, json!({})).await;
    assert_eq!(left["status"], "succeeded", "{left:#}");
    assert_eq!(left["account"]["users"]["deactivated"], 1, "{left:#}");
    let active = |who: &str| {
        let name = format!("{who}@contoso.com");
        (e.account.users().iter()).any(|u| u.user_name == name && u.active)
    };
    assert!(!active("ana"));
    for kept in ["bo", "cy", "dee", "eli"] {
        assert!(active(kept), "{kept} stays active at the account");
    }
    assert_eq!(assigned(&e, &e.a), users(&["bo", "cy", "eli"]));
    assert!(is_assigned(&e, &e.b, "dee"));
    assert!(!is_assigned(&e, &e.b, "cy"));
}

#[tokio::test]
async fn principals_another_provisioner_manages_are_assigned_but_never_marked_reactivated_or_deprovisioned()
 {
    let e = estate().await;
    // gus came from automatic identity management or the Entra connector: in the account with his
    // Entra object id as externalId, before this sync ran.
    let t = &e.world.tenant;
    let gus_entra = t.add_user(NewUser::member("gus@contoso.com", "gus"));
    t.add_member(&t.group_id("Dbx-A").unwrap(), &gus_entra);
    let gus = e.account.add_user("gus@contoso.com", "gus");
    e.account.set_external_id(&gus, &gus_entra);
    let defaults = json!({"deprovision": "deactivate"});
    let handler = Handler::start(&config(&e, defaults), &e.world.handler_env()).await;
    let (_, first) = sync_http(&handler, json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    let account = &first["account"];
    assert_eq!(account["managedElsewhere"]["count"], 1, "{account:#}");
    assert_eq!(
        account["managedElsewhere"]["first"],
        json!(["gus@contoso.com"])
    );
    assert_eq!(account["users"]["created"], 4, "gus is not created again");
    assert!(assigned(&e, &e.a).contains(&("gus@contoso.com".to_owned(), "USER")));
    let marker = e.account.group_id("entra-sync-managed").unwrap();
    assert!(
        !e.account.members(&marker).contains(&gus),
        "gus is not marked"
    );

    // Deactivated by his provisioner: not reactivated. Gone from the groups: his assignment (ours) is
    // taken back, but he is never deactivated by this sync.
    e.account.set_active(&gus, false);
    let (_, deactivated) = sync_http(&handler, json!({})).await;
    assert_eq!(
        deactivated["account"]["users"]["reactivated"], 0,
        "{deactivated:#}"
    );
    e.account.set_active(&gus, true);
    t.remove_member(&t.group_id("Dbx-A").unwrap(), &gus_entra);
    let (_, left) = sync_http(&handler, json!({})).await;
    assert_eq!(left["status"], "succeeded", "{left:#}");
    assert_eq!(left["account"]["users"]["deactivated"], 0, "{left:#}");
    assert!(e.account.users().iter().any(|u| u.id == gus && u.active));
    assert!(!is_assigned(&e, &e.a, "gus"));
}

#[tokio::test]
async fn an_identity_that_is_not_an_account_admin_fails_the_account_and_its_workspaces_in_words() {
    let world = World::start().await.unwrap();
    // The account does not admit the app's identity.
    let account = world.add_account(ACCOUNT_ID).await.unwrap();
    let t = &world.tenant;
    let group = t.add_group("Dbx-A");
    t.add_member(
        &group,
        &t.add_user(NewUser::member("ana@contoso.com", "ana")),
    );
    let a = world.add_workspace("ws-a").await.unwrap();
    account.add_workspace(a.workspace_id(), &a.scim);
    let mut entry = World::config_entry(&a, &["Dbx-A"]);
    entry["identities"] = json!("account");
    let config = json!({"account": {"accountId": ACCOUNT_ID}, "workspaces": [entry]});
    let handler = Handler::start(&config.to_string(), &world.handler_env()).await;
    let (_, report) = sync_http(&handler, json!({})).await;
    assert_eq!(report["status"], "failed", "{report:#}");
    let error = report["account"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("403") && error.contains("account admin"),
        "{error}"
    );
    let ws = workspace(&report, "ws-a");
    assert_eq!(ws["status"], "failed");
    assert_eq!(ws["error"].as_str(), Some(error), "the workspace says why");
    assert!(account.users().is_empty(), "nothing written");
    for secret in world.secrets() {
        assert!(
            !report.to_string().contains(&secret),
            "a secret in the report"
        );
    }
}

#[tokio::test]
async fn a_federated_workspace_moves_from_workspace_mode_to_account_mode_without_a_write_per_user()
{
    let e = estate().await;
    let t = &e.world.tenant;
    let group_a = t.group_id("Dbx-A").unwrap();
    for i in 0..60 {
        let user = t.add_user(NewUser::member(&format!("m{i:02}@contoso.com"), "m"));
        t.add_member(&group_a, &user);
    }
    // Workspace mode first: the workspace's own SCIM API, which on a federated workspace adds each user
    // to the account and assigns it.
    let mut entry = World::config_entry(&e.a, &["Dbx-A"]);
    entry["deprovision"] = json!("deactivate");
    let before = json!({"account": {"accountId": ACCOUNT_ID}, "workspaces": [entry.clone()]});
    let handler = Handler::start(&before.to_string(), &e.world.handler_env()).await;
    let (_, first) = sync_http(&handler, json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    assert_eq!(
        e.account.users().len(),
        63,
        "the workspace's users are the account's"
    );
    assert_eq!(assigned(&e, &e.a).len(), 63);
    drop(handler);

    // Then account mode: nothing created again, no write per user.
    entry["identities"] = json!("account");
    let after = json!({"account": {"accountId": ACCOUNT_ID}, "workspaces": [entry]});
    let handler = Handler::start(&after.to_string(), &e.world.handler_env()).await;
    let mut seen = e.account.faults().log().len();
    let (_, switched) = sync_http(&handler, json!({})).await;
    assert_eq!(switched["status"], "succeeded", "{switched:#}");
    assert_eq!(switched["account"]["users"]["created"], 0, "{switched:#}");
    assert_eq!(switched["account"]["users"]["existing"], 63);
    assert_eq!(
        switched["account"]["managedElsewhere"],
        Value::Null,
        "they are the sync's own"
    );
    let writes_after = writes(&e.account, &mut seen);
    // The marker group at the account (created, then 63 members in 2 PATCHes) and the workspace's record
    // group (created, then its 63 assignments adopted in 2 PATCHes).
    assert_eq!(writes_after.len(), 6, "{writes_after:#?}");
    assert!(
        !writes_after.iter().any(|w| w.starts_with("PUT")),
        "nothing assigned again"
    );

    // What it owned in workspace mode is the sync's to take back.
    t.remove_member(&group_a, &t.user_id("m00@contoso.com").unwrap());
    let (_, left) = sync_http(&handler, json!({})).await;
    assert_eq!(
        workspace(&left, "ws-a")["assignments"]["unassigned"],
        1,
        "{left:#}"
    );
    assert!(!is_assigned(&e, &e.a, "m00"));
}

#[tokio::test]
async fn deprovisioning_at_the_account_waits_for_every_workspace_and_its_threshold() {
    let e = estate().await;
    let t = &e.world.tenant;
    let (group_a, group_b) = (t.group_id("Dbx-A").unwrap(), t.group_id("Dbx-B").unwrap());
    let defaults = json!({"deprovision": "deactivate", "maxDeprovision": 1});
    let handler = Handler::start(&config(&e, defaults), &e.world.handler_env()).await;
    let (_, first) = sync_http(&handler, json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    let active = |who: &str| {
        let name = format!("{who}@contoso.com");
        e.account
            .users()
            .iter()
            .any(|u| u.user_name == name && u.active)
    };

    // ana leaves, and ws-b's group cannot be read: who ws-b wants is not known, so nobody is
    // deactivated at the account (ws-b fails; ws-a still takes back ana's assignment).
    t.remove_member(&group_a, &t.user_id("ana@contoso.com").unwrap());
    let fault = sandbox::faults::Fault::status(403).on_path(&group_b);
    t.faults().inject_persistent(fault);
    let (_, unknown) = sync_http(&handler, json!({})).await;
    assert_eq!(
        workspace(&unknown, "ws-b")["status"],
        "failed",
        "{unknown:#}"
    );
    let held = unknown["account"]["deprovisioningHeld"]
        .as_str()
        .unwrap_or_default();
    assert!(held.contains("ws-b"), "{:#}", unknown["account"]);
    assert!(active("ana"));
    assert_eq!(assigned(&e, &e.a), users(&["bo", "cy"]));
    t.faults().clear();

    // ana and bo gone, above maxDeprovision 1: held until confirmed.
    t.remove_member(&group_a, &t.user_id("bo@contoso.com").unwrap());
    let (_, over) = sync_http(&handler, json!({"allowDeprovision": false})).await;
    let held = over["account"]["deprovisioningHeld"]
        .as_str()
        .unwrap_or_default();
    assert!(held.contains("maxDeprovision"), "{:#}", over["account"]);
    assert!(active("ana") && active("bo"));
    let (_, confirmed) = sync_http(&handler, json!({"allowDeprovision": true})).await;
    assert_eq!(
        confirmed["account"]["users"]["deactivated"], 2,
        "{confirmed:#}"
    );
    assert!(!active("ana") && !active("bo") && active("cy"));
}
