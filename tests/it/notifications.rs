//! Change notifications end to end, through the real binary under the local host, Azurite and the
//! Graph emulator (which delivers to the app's public URL, `https://<app>.azurewebsites.net`, through
//! the world's proxy): `SyncSubscriptions` subscribes to each group a workspace reads (nested ones
//! included), Graph's validation handshake is answered, and a membership change in Entra reaches the
//! workspace through `SyncNotify` → the work queue → `SyncQueue`, with no timer run and no HTTP call;
//! a batch with the wrong `clientState` is refused without a word of its content; with a shortened
//! lifetime the timer renews the subscription before it expires; a `reauthorizationRequired` event
//! renews it and queues the group's workspaces.

use std::time::{Duration, Instant};

use sandbox::graph::NewUser;
use sandbox::host::LocalHost;
use sandbox::world::{Workspace, World};
use serde_json::{Value, json};

use crate::scenario::end_state;
use crate::support::{app_folder, local_host};

const APP: &str = "func-dbx-sync-test";
const FUNCTION_KEY: &str = "fk-notify-5d0e0c1b9a7f4e2c8b6d";

struct Setup {
    world: World,
    workspace: Workspace,
    other: Workspace,
    group: String,
    nested: String,
    client_state: String,
    app: tempfile::TempDir,
}

/// A tenant with `Databricks-Group-Test` (ana, and the nested group `Contractors` with cy), two
/// workspaces reading it (`analytics-test`; `analytics-prod` without nesting), storage, and the
/// clientState secret in the vault.
async fn setup() -> Setup {
    let world = World::start().await.unwrap();
    world.add_storage().await.unwrap();
    let group = world.tenant.add_group("Databricks-Group-Test");
    let nested = world.tenant.add_group("Contractors");
    world.tenant.add_member(&group, &nested);
    let ana = world
        .tenant
        .add_user(NewUser::member("ana@contoso.com", "Ana"));
    world.tenant.add_member(&group, &ana);
    let cy = world
        .tenant
        .add_user(NewUser::member("cy@contoso.com", "Cy"));
    world.tenant.add_member(&nested, &cy);
    let workspace = world.add_workspace("analytics-test").await.unwrap();
    let other = world.add_workspace("analytics-prod").await.unwrap();
    let client_state = format!("cs-{}", uuid::Uuid::new_v4().simple());
    world.vault.set_secret("notify-client-state", &client_state);
    let mut flat = World::config_entry(&other, &["Databricks-Group-Test"]);
    flat["nested"] = json!(false);
    let config = json!({"workspaces": [
        World::config_entry(&workspace, &["Databricks-Group-Test"]),
        flat,
    ]});
    let app = app_folder(&config.to_string());
    Setup {
        world,
        workspace,
        other,
        group,
        nested,
        client_state,
        app,
    }
}

fn settings(setup: &Setup, extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut all = vec![
        (
            "NOTIFICATION_URL".to_owned(),
            format!("https://{APP}.azurewebsites.net/api/SyncNotify?code={FUNCTION_KEY}"),
        ),
        (
            "NOTIFICATION_CLIENT_STATE".to_owned(),
            format!(
                "{}/secrets/notify-client-state",
                setup.world.vault.vault_url()
            ),
        ),
    ];
    all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

async fn start(
    setup: &Setup,
    extra: &[(&'static str, &'static str)],
) -> (LocalHost, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let owned = settings(setup, extra);
    let borrowed: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (host, lines) = local_host(&setup.world, &setup.app, &borrowed).await;
    setup.world.expose_app(APP, host.addr()).await.unwrap();
    (host, lines)
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn users(workspace: &Workspace) -> Vec<String> {
    end_state(workspace)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_in_entra_reaches_the_workspace_through_a_notification_and_the_queue() {
    let setup = setup().await;
    let (host, lines) = start(&setup, &[]).await;
    let console = || lines.lock().unwrap().join("\n");

    // The subscriptions: one per group a workspace reads (the nested group for analytics-test).
    let record = host.invoke_timer("SyncSubscriptions").await.unwrap();
    assert!(record.succeeded, "{record:?}\n{}", console());
    assert_eq!(
        record.logs,
        [format!(
            "subscriptions for 2 group(s) at https://{APP}.azurewebsites.net/api/SyncNotify?…: created 2, renewed 0, kept 0, deleted 0, failed 0"
        )]
    );
    let subscriptions = setup.world.tenant.subscriptions();
    let mut groups: Vec<&str> = subscriptions.iter().map(|s| s.group_id.as_str()).collect();
    groups.sort_unstable();
    let mut expected = vec![setup.group.as_str(), setup.nested.as_str()];
    expected.sort_unstable();
    assert_eq!(groups, expected);
    for s in &subscriptions {
        assert_eq!(s.client_state.as_deref(), Some(setup.client_state.as_str()));
        assert!(
            s.notification_url
                .ends_with(&format!("?code={FUNCTION_KEY}"))
        );
    }
    // Graph validated the URL (notification and lifecycle) through SyncNotify.
    let validations = (setup.world.tenant.deliveries().into_iter())
        .filter(|d| format!("{:?}", d.kind).contains("Validation"))
        .collect::<Vec<_>>();
    assert_eq!(validations.len(), 4, "{validations:?}");
    assert!(validations.iter().all(|d| d.accepted), "{validations:?}");

    // A change in Entra: bo joins the group. No timer run, no HTTP call.
    let bo = setup
        .world
        .tenant
        .add_user(NewUser::member("bo@contoso.com", "Bo"));
    setup.world.tenant.add_member(&setup.group, &bo);
    until("bo in analytics-test", Duration::from_secs(30), || {
        users(&setup.workspace).contains(&"bo@contoso.com".to_owned())
    })
    .await;
    until("bo in analytics-prod", Duration::from_secs(30), || {
        users(&setup.other).contains(&"bo@contoso.com".to_owned())
    })
    .await;
    // A change inside the nested group reaches only the workspace that reads nested groups.
    let dee = setup
        .world
        .tenant
        .add_user(NewUser::member("dee@contoso.com", "Dee"));
    setup.world.tenant.add_member(&setup.nested, &dee);
    until("dee in analytics-test", Duration::from_secs(30), || {
        users(&setup.workspace).contains(&"dee@contoso.com".to_owned())
    })
    .await;
    let invocations = host.invocations();
    let count = |name: &str| invocations.iter().filter(|i| i.function == name).count();
    assert_eq!((count("SyncTimer"), count("SyncHttp")), (0, 0));
    assert!(count("SyncNotify") >= 2, "{invocations:?}");
    assert!(
        invocations
            .iter()
            .filter(|i| i.function == "SyncQueue")
            .all(|i| i.succeeded),
        "{invocations:?}"
    );
    assert!(
        !users(&setup.other).contains(&"dee@contoso.com".to_owned()),
        "analytics-prod does not read nested groups"
    );

    // 50 notifications at once for the group: at most 2 syncs of each of its workspaces.
    let queued = || {
        (host.invocations().iter())
            .filter(|i| i.function == "SyncQueue")
            .count()
    };
    let mut queued_before = queued();
    loop {
        // Quiet: the syncs of the changes above are all done.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = queued();
        if now == queued_before {
            break;
        }
        queued_before = now;
    }
    let subscription = (subscriptions.iter())
        .find(|s| s.group_id == setup.group)
        .unwrap()
        .id
        .clone();
    let item = json!({
        "subscriptionId": subscription,
        "clientState": setup.client_state,
        "changeType": "updated",
        "resource": format!("Groups/{}", setup.group),
        "tenantId": "t",
    });
    let client = reqwest::Client::new();
    let posts = (0..50).map(|_| {
        client
            .post(format!("{}/api/SyncNotify?code={FUNCTION_KEY}", host.url()))
            .json(&json!({"value": [item.clone()]}))
            .send()
    });
    for answer in futures::future::join_all(posts).await {
        assert_eq!(answer.unwrap().status(), 202);
    }
    // Let the queue drain (polled every 2 s at most).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let syncs: Vec<String> = (host.invocations().into_iter())
        .filter(|i| i.function == "SyncQueue")
        .skip(queued_before)
        .flat_map(|i| i.logs)
        .collect();
    for name in ["analytics-test", "analytics-prod"] {
        let n = syncs
            .iter()
            .filter(|l| l.starts_with(&format!("{name}:")))
            .count();
        assert!(
            (1..=2).contains(&n),
            "{name}: {n} syncs for 50 notifications: {syncs:?}"
        );
    }

    // A batch with the wrong clientState: refused, and nothing of it in the console.
    let forged = json!({"value": [{
        "subscriptionId": subscriptions[0].id,
        "clientState": "forged-state-7f3a",
        "changeType": "updated",
        "resource": format!("Groups/{}", setup.group),
        "tenantId": "t",
    }]});
    let answer = reqwest::Client::new()
        .post(format!("{}/api/SyncNotify?code={FUNCTION_KEY}", host.url()))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let out = console();
    assert!(
        out.contains("1 notification(s) whose clientState does not match were refused"),
        "{out}"
    );
    assert!(!out.contains("forged-state-7f3a"));
    for secret in [setup.client_state.as_str(), FUNCTION_KEY] {
        assert!(!out.contains(secret), "a secret was printed: {out}");
    }
    for secret in setup.world.secrets() {
        assert!(!out.contains(&secret), "a secret was printed");
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_renews_a_short_lived_subscription_and_a_lifecycle_event_reauthorizes_it() {
    let setup = setup().await;
    // One-minute subscriptions, due for renewal after 30 s; the timer every 10 s.
    let (host, lines) = start(
        &setup,
        &[
            ("NOTIFICATION_LIFETIME_MINUTES", "1"),
            ("SUBSCRIPTION_SCHEDULE", "*/10 * * * * *"),
        ],
    )
    .await;
    let console = || lines.lock().unwrap().join("\n");
    until("the subscriptions", Duration::from_secs(30), || {
        setup.world.tenant.subscriptions().len() == 2
    })
    .await;
    let first = setup.world.tenant.subscriptions();
    let expires = first.iter().map(|s| s.expiration).min().unwrap();
    // Past the first expiry, the same subscriptions live on: renewed, not made again.
    let wait = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        + Duration::from_secs(5);
    tokio::time::sleep(wait).await;
    let now = setup.world.tenant.subscriptions();
    let ids = |list: &[sandbox::graph::SubscriptionInfo]| {
        let mut ids: Vec<String> = list.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&now), ids(&first), "{}", console());
    assert!(now.iter().all(|s| s.expiration > expires));
    assert!(now.iter().all(|s| s.reauthorized >= 1));
    let renewals = (host.invocations().into_iter())
        .filter(|i| i.function == "SyncSubscriptions" && i.succeeded)
        .filter(|i| i.logs.iter().any(|l| !l.contains("renewed 0,")))
        .count();
    assert!(renewals >= 1, "{}", console());

    // A lifecycle event: renewed at once, and the group's workspaces queued.
    let target = now.iter().find(|s| s.group_id == setup.group).unwrap();
    let before = target.reauthorized;
    setup
        .world
        .tenant
        .send_lifecycle_event(&target.id, "reauthorizationRequired")
        .unwrap();
    until("the reauthorization", Duration::from_secs(20), || {
        (setup.world.tenant.subscriptions().iter())
            .any(|s| s.id == target.id && s.reauthorized > before)
    })
    .await;
    until("the queued syncs", Duration::from_secs(30), || {
        host.invocations()
            .iter()
            .filter(|i| i.function == "SyncQueue" && i.succeeded)
            .count()
            >= 2
    })
    .await;
    let lifecycle: Vec<Value> = (setup.world.tenant.deliveries().into_iter())
        .filter(|d| format!("{:?}", d.kind).contains("Lifecycle"))
        .map(|d| json!({"accepted": d.accepted}))
        .collect();
    assert_eq!(lifecycle, vec![json!({"accepted": true})], "{}", console());
    host.stop().await;
}
