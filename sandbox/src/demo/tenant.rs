//! The demo's organisation: a few dozen people in nested Entra groups (with a guest and a disabled
//! account), and two Databricks workspaces, one with some users already (one with other letter case,
//! one deactivated), one empty.

use serde_json::{Value, json};

use crate::graph::NewUser;
use crate::world::{Workspace, World};

const FIRST: [&str; 12] = [
    "ana", "bo", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena",
];
const LAST: [&str; 3] = ["silva", "berg", "okafor"];

/// The two workspaces and the configuration that points at them.
pub struct DemoTenant {
    pub analytics: Workspace,
    pub platform: Workspace,
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
    analytics_ws
        .scim
        .add_user("contractor@contoso.com", "Former contractor", true);
    let platform_ws = world.add_workspace("platform").await?;

    let config = json!({ "workspaces": [
        World::config_entry(&analytics_ws, &["Databricks-Analytics"]),
        World::config_entry(&platform_ws, &["Databricks-Platform"]),
    ]});
    Ok(DemoTenant {
        analytics: analytics_ws,
        platform: platform_ws,
        config,
    })
}
