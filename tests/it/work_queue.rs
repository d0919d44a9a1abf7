//! The work queue through the real binary under the local host, against Azurite: a message naming a
//! workspace becomes one `SyncQueue` invocation that syncs that workspace only, and is deleted; a
//! message for a workspace no longer configured is acknowledged; a message that cannot be read, or
//! whose sync keeps failing, is tried `maxDequeueCount` times and then moved to the poison queue with
//! its text unchanged.

use std::time::{Duration, Instant};

use azure_storage_queue::QueueClient;
use azure_storage_queue::models::{QueueClientPeekMessagesOptions, QueueMessage};
use sandbox::graph::NewUser;
use sandbox::world::World;
use serde_json::json;

use crate::scenario::end_state;
use crate::support::{app_folder, local_host};

const QUEUE: &str = "entra-sync-work";

async fn send(queue: &QueueClient, text: &str) {
    let message = QueueMessage {
        message_text: Some(text.to_owned()),
    };
    queue
        .send_message(message.try_into().unwrap(), None)
        .await
        .unwrap();
}

fn encoded(value: serde_json::Value) -> String {
    azure_core::base64::encode(value.to_string())
}

async fn peek(queue: &QueueClient) -> Vec<String> {
    let options = QueueClientPeekMessagesOptions {
        number_of_messages: Some(32),
        ..Default::default()
    };
    match queue.peek_messages(Some(options)).await {
        Ok(answer) => (answer.into_model().unwrap().items.unwrap_or_default())
            .into_iter()
            .filter_map(|m| m.message_text)
            .collect(),
        Err(e) if e.http_status().map(u16::from) == Some(404) => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_workspace_is_synced_by_its_own_invocation_and_bad_messages_end_in_the_poison_queue()
 {
    let world = World::start().await.unwrap();
    world.add_storage().await.unwrap();
    let group = world.tenant.add_group("Databricks-Group-Test");
    for name in ["ana@contoso.com", "bo@contoso.com"] {
        let user = world.tenant.add_user(NewUser::member(name, name));
        world.tenant.add_member(&group, &user);
    }
    let queued = world.add_workspace("analytics-test").await.unwrap();
    let other = world.add_workspace("analytics-prod").await.unwrap();
    let config = json!({"workspaces": [
        World::config_entry(&queued, &["Databricks-Group-Test"]),
        World::config_entry(&other, &["Databricks-Group-Test"]),
    ]});
    let app = app_folder(&config.to_string());
    // Failed messages come back after 1 s here (host.json says 30 s), so the test sees five tries.
    let host_json = app.path().join("host.json");
    let text = std::fs::read_to_string(&host_json).unwrap();
    let text = text.replace(
        "\"visibilityTimeout\": \"00:00:30\"",
        "\"visibilityTimeout\": \"00:00:01\"",
    );
    assert!(text.contains("00:00:01"), "host.json changed shape: {text}");
    std::fs::write(&host_json, text).unwrap();
    let (host, lines) = local_host(&world, &app, &[]).await;
    let console = || lines.lock().unwrap().join("\n");
    assert!(
        console().contains("  SyncQueue: queueTrigger"),
        "{}",
        console()
    );

    let queue = world.queue(QUEUE).unwrap();
    queue.create(None).await.unwrap();
    send(
        &queue,
        &encoded(json!({"workspace": "analytics-test", "reason": "manual"})),
    )
    .await;
    let done = host
        .wait_for_invocations("SyncQueue", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(done[0].succeeded, "{:?}\n{}", done[0], console());
    assert_eq!(
        done[0].reason, "New queue message detected on 'entra-sync-work'.",
        "{:?}",
        done[0]
    );
    assert_eq!(
        done[0].logs,
        [
            "analytics-test: succeeded (desired 2, existing 0, created 2, reactivated 0, skipped 0, failed 0)"
        ]
    );
    assert_eq!(end_state(&queued).len(), 2);
    assert!(end_state(&other).is_empty(), "only the queued workspace");
    // Deleted once done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !peek(&queue).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(peek(&queue).await, Vec::<String>::new());

    // A workspace no longer configured: acknowledged, said, nothing synced.
    send(&queue, &encoded(json!({"workspace": "gone"}))).await;
    let done = host
        .wait_for_invocations("SyncQueue", 2, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(done[1].succeeded, "{:?}", done[1]);
    assert_eq!(
        done[1].logs,
        ["workspace \"gone\" is not in the configuration (any more): nothing to do"]
    );

    // A message that is not a work message: five tries, then the poison queue, text unchanged.
    let bad = encoded(json!({"workspaces": ["analytics-test"]}));
    send(&queue, &bad).await;
    let poison = world.queue(&format!("{QUEUE}-poison")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while peek(&poison).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(peek(&poison).await, vec![bad.clone()], "{}", console());
    let tries: Vec<_> = (host.invocations().into_iter())
        .filter(|i| i.function == "SyncQueue" && !i.succeeded)
        .collect();
    assert_eq!(tries.len(), 5, "{tries:?}");
    let out = console();
    assert!(
        out.contains("Message has reached MaxDequeueCount of 5. Moving message to queue 'entra-sync-work-poison'."),
        "{out}"
    );
    assert!(
        out.contains("the queue message is not a work message: unknown field `workspaces`"),
        "{out}"
    );
    assert_eq!(peek(&queue).await, Vec::<String>::new());
    for secret in world.secrets() {
        assert!(!out.contains(&secret), "a secret was printed");
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanned_out_timer_queues_each_workspace_for_its_own_invocation() {
    let world = World::start().await.unwrap();
    world.add_storage().await.unwrap();
    let group = world.tenant.add_group("Databricks-Group-Test");
    let ana = world
        .tenant
        .add_user(NewUser::member("ana@contoso.com", "Ana"));
    world.tenant.add_member(&group, &ana);
    let first = world.add_workspace("analytics-test").await.unwrap();
    let second = world.add_workspace("analytics-prod").await.unwrap();
    let config = json!({"workspaces": [
        World::config_entry(&first, &["Databricks-Group-Test"]),
        World::config_entry(&second, &["Databricks-Group-Test"]),
    ]});
    let app = app_folder(&config.to_string());
    let (host, lines) = local_host(&world, &app, &[("SYNC_TIMER_FANOUT", "true")]).await;
    let timer = host.invoke_timer("SyncTimer").await.unwrap();
    assert!(timer.succeeded, "{timer:?}");
    assert_eq!(
        timer.logs,
        ["fanned out: queued 2 workspace(s), 0 already waiting"]
    );
    let queued = host
        .wait_for_invocations("SyncQueue", 2, Duration::from_secs(30))
        .await
        .unwrap();
    let mut logs: Vec<String> = queued.iter().flat_map(|i| i.logs.clone()).collect();
    logs.sort();
    assert_eq!(
        logs,
        [
            "analytics-prod: succeeded (desired 1, existing 0, created 1, reactivated 0, skipped 0, failed 0)",
            "analytics-test: succeeded (desired 1, existing 0, created 1, reactivated 0, skipped 0, failed 0)",
        ],
        "{}",
        lines.lock().unwrap().join("\n")
    );
    // The last runs say they were queued, one workspace each.
    let seen: serde_json::Value = reqwest::get(format!("{}/api/SyncHttp", host.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["lastReportByTrigger"]["queue"]["workspaces"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(seen["workspaces"]["analytics-test"]["trigger"], "queue");
    host.stop().await;
}
