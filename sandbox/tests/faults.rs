//! The fault kinds of `sandbox::faults` as a client sees them, on a small listing served the way the
//! emulators are served (`tls::serve_plain`, which honours "close the connection").

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Json;
use axum::extract::RawQuery;
use axum::routing::get;
use sandbox::faults::{self, Fault, Faults, Stage};
use serde_json::{Value, json};

/// `/items`: a page of four items with a next link and counts in both Graph's and SCIM's words.
async fn serve(faults: &Faults) -> String {
    let router = axum::Router::new()
        .route(
            "/items",
            get(|RawQuery(query): RawQuery| async move {
                Json(json!({
                    "@odata.count": 4, "totalResults": 4, "query": query,
                    "value": [1, 2, 3, 4], "@odata.nextLink": "https://example.test/items?page=2",
                }))
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            faults::layer,
        ));
    let address = sandbox::tls::serve_plain(router).await.expect("serve");
    format!("http://{address}/items")
}

async fn page(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn page_faults_rewrite_the_real_answer() {
    let faults = Faults::default();
    let url = serve(&faults).await;
    faults.inject(Fault::empty_page(), 1);
    let empty = page(&url).await;
    assert_eq!(
        (
            &empty["value"],
            &empty["@odata.count"],
            empty.get("@odata.nextLink")
        ),
        (&json!([]), &json!(4), None)
    );
    faults.inject(Fault::truncated_page(), 1);
    assert_eq!(page(&url).await["value"], json!([1, 2]));
    faults.inject(Fault::odata_count(9), 1);
    let lagging = page(&url).await;
    assert_eq!(
        (&lagging["value"], &lagging["@odata.count"]),
        (&json!([1, 2, 3, 4]), &json!(9))
    );
    faults.inject(Fault::repeated_next_link(), 1);
    let repeated = page(&format!("{url}?a=1")).await;
    assert!(
        repeated["@odata.nextLink"]
            .as_str()
            .unwrap()
            .ends_with("/items?a=1"),
        "{repeated}"
    );
    faults.inject(Fault::endless_next_link(), 2);
    let first = page(&url).await["@odata.nextLink"].clone();
    let second = page(
        first
            .as_str()
            .unwrap()
            .replace("https://", "http://")
            .as_str(),
    )
    .await;
    assert_ne!(first, second["@odata.nextLink"], "a new link every page");
    assert_eq!(
        second["query"],
        Value::Null,
        "the page marker never reaches the emulator"
    );
    faults.inject(Fault::ignore_start_index(Some(9)), 1);
    let ignored = page(&format!("{url}?startIndex=3&count=2")).await;
    assert_eq!(
        (&ignored["query"], &ignored["totalResults"]),
        (&json!("count=2"), &json!(9))
    );
    assert_eq!(
        page(&url).await["value"],
        json!([1, 2, 3, 4]),
        "faults used up"
    );
}

#[tokio::test]
async fn transport_faults_close_hold_or_cut_the_answer() {
    let faults = Faults::default();
    let url = serve(&faults).await;
    faults.inject(Fault::reset(), 1);
    let closed = reqwest::get(&url).await.unwrap_err();
    assert!(
        !closed.is_timeout() && closed.status().is_none(),
        "{closed}"
    );

    faults.inject(Fault::cut_off(), 1);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let cut = response.bytes().await.unwrap_err();
    assert!(cut.is_body() || cut.is_decode(), "{cut}");

    faults.inject(Fault::invalid_json(), 1);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    faults.inject(Fault::no_answer(), 1);
    let held = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap_err();
    assert!(held.is_timeout(), "{held}");
    assert_eq!(
        faults.log().iter().map(|r| r.status).collect::<Vec<_>>(),
        [0, 200, 200, 0],
        "requests without an answer are logged with status 0"
    );
}

#[tokio::test]
async fn persistent_faults_last_until_cleared_and_the_hook_sees_every_request() {
    let faults = Faults::default();
    let url = serve(&faults).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    faults.set_hook(move |stage, request| sink.lock().unwrap().push((stage, request.status)));
    faults.inject_persistent(Fault::status(503).on_query("x=1"));
    for _ in 0..3 {
        assert_eq!(
            reqwest::get(format!("{url}?x=1")).await.unwrap().status(),
            503
        );
    }
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        200,
        "other queries pass"
    );
    faults.clear();
    assert_eq!(
        reqwest::get(format!("{url}?x=1")).await.unwrap().status(),
        200
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[0], (Stage::Received, 0));
    assert_eq!(seen[1], (Stage::Answered, 503));
}
