//! The demo's organisation: a few dozen people and a few applications (service principals) in nested
//! Entra groups (with a guest and a disabled account), two Databricks workspaces in workspace mode that a
//! previous sync left behind (some users already there, one with other letter case, one deactivated;
//! marker groups holding principals who have since left; a mirrored group that lost a member), and a
//! third, identity-federated workspace in account mode (`identities: "account"`) of an emulated
//! Databricks account, where a previous sync left an assignment of someone who has since left. Between
//! them, the first run makes every kind of change the sync knows, in both modes side by side.

use serde_json::{Value, json};

use crate::account::Account;
use crate::graph::NewUser;
use crate::identity::SYSTEM_IDENTITY;
use crate::world::{Workspace, World};

const FIRST: [&str; 12] = [
    "ana", "bo", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena",
];
const LAST: [&str; 3] = ["silva", "berg", "okafor"];
const MARKER: &str = "entra-sync-managed";
const ETL_APP: &str = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b";
const BI_APP: &str = "7a2e3d4c-5b6f-4071-9b8c-0d1e2f3a4b5c";
const OLD_ETL_APP: &str = "8b3f4e5d-6c7a-4182-8c9d-1e2f3a4b5c6d";
const RETIRED_APP: &str = "9c4a5f6e-7d8b-4293-9dae-2f3a4b5c6d7e";

/// The demo's Databricks account (account mode).
pub const ACCOUNT_ID: &str = "3c9d2f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

/// The workspaces, the account and the configuration that points at them.
pub struct DemoTenant {
    pub analytics: Workspace,
    pub platform: Workspace,
    /// In account mode.
    pub lakehouse: Workspace,
    pub account: Account,
    pub config: Value,
}

fn person(world: &World, first: &str, last: &str) -> String {
    let upn = format!("{first}.{last}@contoso.com");
    let display = format!(
        "{}{} {}{}",
        first[..1].to_uppercase(),
        &first[1..],
        last[..1].to_uppercase(),
        &last[1..]
    );
    world.tenant.add_user(NewUser::member(&upn, &display))
}

/// Fills `world` with the demo organisation.
///
/// # Errors
/// A workspace emulator could not be started.
pub async fn populate(world: &World) -> std::io::Result<DemoTenant> {
    let t = &world.tenant;
    let people: Vec<String> = LAST
        .iter()
        .flat_map(|last| FIRST.iter().map(move |first| (first, last)))
        .map(|(f, l)| person(world, f, l))
        .collect();

    let analytics = t.add_group("Databricks-Analytics");
    let science = t.add_group("Data-Science");
    let engineering = t.add_group("Data-Engineering");
    let platform_team = t.add_group("Platform-Team");
    let platform = t.add_group("Databricks-Platform");
    // Analytics: data science and engineering (nested), platform team nested in engineering, plus some direct members.
    t.add_member(&analytics, &science);
    t.add_member(&analytics, &engineering);
    t.add_member(&engineering, &platform_team);
    for p in &people[0..10] {
        t.add_member(&science, p);
    }
    for p in &people[8..20] {
        t.add_member(&engineering, p);
    }
    for p in &people[20..26] {
        t.add_member(&platform_team, p);
    }
    for p in &people[26..30] {
        t.add_member(&analytics, p);
    }
    let guest = t.add_user(NewUser::guest("mira@fabrikam.com", "Mira (Fabrikam)"));
    t.add_member(&analytics, &guest);
    let mut leaver = NewUser::member("tom.left@contoso.com", "Tom Left");
    leaver.account_enabled = false;
    let leaver = t.add_user(leaver);
    t.add_member(&science, &leaver);
    // Platform workspace: the platform team and two more people.
    t.add_member(&platform, &platform_team);
    for p in &people[30..32] {
        t.add_member(&platform, p);
    }

    let analytics_ws = world.add_workspace("analytics").await?;
    analytics_ws
        .scim
        .add_user("Ana.Silva@Contoso.com", "Ana Silva", true);
    analytics_ws
        .scim
        .add_user("bo.silva@contoso.com", "Bo Silva", false);
    // Applications: a nested one, one the workspace has deactivated, and two that left their groups.
    let etl = t.add_service_principal(ETL_APP, "nightly-etl", true);
    t.add_member(&engineering, &etl);
    let bi = t.add_service_principal(BI_APP, "bi-refresh", true);
    t.add_member(&analytics, &bi);
    analytics_ws
        .scim
        .add_service_principal(BI_APP, "bi-refresh", false);

    // What a previous sync left: managed principals who have since left, a mirrored group with a leaver.
    let contractor =
        analytics_ws
            .scim
            .add_user("contractor@contoso.com", "Former contractor", true);
    let old_etl = analytics_ws
        .scim
        .add_service_principal(OLD_ETL_APP, "old-etl", true);
    let marker = analytics_ws.scim.add_group(MARKER);
    analytics_ws.scim.add_member(&marker, &contractor);
    analytics_ws.scim.add_member(&marker, &old_etl);
    let mirrored = analytics_ws.scim.add_group("Databricks-Analytics");
    analytics_ws.scim.add_member(&mirrored, &contractor);

    let platform_ws = world.add_workspace("platform").await?;
    let former = platform_ws
        .scim
        .add_user("former.admin@contoso.com", "Former admin", true);
    let bot = platform_ws
        .scim
        .add_service_principal(RETIRED_APP, "retired-bot", true);
    let marker = platform_ws.scim.add_group(MARKER);
    platform_ws.scim.add_member(&marker, &former);
    platform_ws.scim.add_member(&marker, &bot);

    let mut analytics_entry = World::config_entry(&analytics_ws, &["Databricks-Analytics"]);
    analytics_entry["mirrorGroups"] = json!(true);
    analytics_entry["entitlements"] = json!(["workspace-access"]);
    analytics_entry["deprovision"] = json!("deactivate");
    let mut platform_entry = World::config_entry(&platform_ws, &["Databricks-Platform"]);
    platform_entry["deprovision"] = json!("remove");
    platform_entry["mirrorGroups"] = json!(true);
    // Account mode: an identity-federated workspace of the account, given the analytics and platform
    // groups as account groups. A previous sync assigned someone who has since left (its record says so).
    let account = world.add_account(ACCOUNT_ID).await?;
    account.admit_identity(SYSTEM_IDENTITY);
    let lakehouse_ws = world.add_workspace("lakehouse").await?;
    let lakehouse_id = lakehouse_ws.workspace_id();
    account.add_workspace(lakehouse_id, &lakehouse_ws.scim);
    let analyst = account.add_user("old.analyst@contoso.com", "Former analyst");
    account.assign(lakehouse_id, &analyst, "USER");
    account.add_group(&format!("{MARKER}-ws-{lakehouse_id}"), &[&analyst]);
    let mut lakehouse_entry = World::config_entry(
        &lakehouse_ws,
        &["Databricks-Analytics", "Databricks-Platform"],
    );
    lakehouse_entry["identities"] = json!("account");
    lakehouse_entry["mirrorGroups"] = json!(true);
    lakehouse_entry["entitlements"] = json!(["workspace-access", "databricks-sql-access"]);
    lakehouse_entry["deprovision"] = json!("deactivate");

    let config = json!({
        "account": {"accountId": ACCOUNT_ID},
        "defaults": {"includeServicePrincipals": true},
        "workspaces": [analytics_entry, platform_entry, lakehouse_entry],
    });
    Ok(DemoTenant {
        analytics: analytics_ws,
        platform: platform_ws,
        lakehouse: lakehouse_ws,
        account,
        config,
    })
}
