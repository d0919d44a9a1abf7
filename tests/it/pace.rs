//! The adaptive pace through the real `handler`: a workspace that throttles below the handler's
//! default ceiling (Databricks' documented 255 requests a minute) still gets its whole sync, and the
//! handler backs off once per throttling episode: one 429 per episode, one cut of its pace per episode.

use sandbox::world::World;
use serde_json::json;

use crate::support::{Handler, numbered_group, sync_http};

const USERS: usize = 16;
/// Half the handler's default ceiling (4.25/s): the handler must slow down to get through.
const SERVER_RATE: f64 = 2.0;

#[tokio::test]
async fn a_workspace_throttling_below_the_default_pace_is_synced_with_one_429_per_episode() {
    let world = World::start().await.unwrap();
    numbered_group(&world.tenant, "Databricks-Paced", "p", USERS);
    let ws = world.add_workspace("paced").await.unwrap();
    // Every request, reads included, as Databricks documents its workspace SCIM limit.
    ws.scim.set_request_rate(Some(SERVER_RATE));
    // The default configuration: no scimRequestsPerSecond.
    let entry = World::config_entry(&ws, &["Databricks-Paced"]);
    let config = json!({ "workspaces": [entry] }).to_string();
    let handler = Handler::start(&config, &world.handler_env()).await;

    let (code, report) = sync_http(&handler, json!({})).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["status"], "succeeded", "{report}");

    let stats = ws.scim.throttling();
    assert!(
        stats.episodes >= 1,
        "the workspace never throttled, so the pace was not tested: {stats:?}"
    );
    assert_eq!(
        stats.throttled, stats.episodes,
        "one 429 per episode: the handler held every request for Retry-After after the first ({stats:?})"
    );
    // Read from the pipe as they come: wait for the first before counting.
    assert!(handler.wait_for_stderr("its pace is cut").await);
    let cuts = handler
        .stderr()
        .iter()
        .filter(|line| line.contains("its pace is cut"))
        .count();
    assert!(
        (1..=stats.episodes).contains(&cuts),
        "one back-off per episode: {cuts} cuts for {stats:?}"
    );

    let users = ws
        .scim
        .users()
        .into_iter()
        .filter(|u| u.user_name != sandbox::scim::ADMIN_USER_NAME)
        .count();
    assert_eq!(users, USERS);
    let marked = ws
        .scim
        .groups()
        .into_iter()
        .find(|g| g.display_name == "entra-sync-managed")
        .map(|g| g.members.len());
    assert_eq!(marked, Some(USERS), "every user marked");
}
