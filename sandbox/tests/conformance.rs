//! The conformance front (`sandbox::conformance::Front`) against a small fake peer: requests are
//! relayed under the peer's own SCIM root with their method, query, headers and body; answers come
//! back with the peer's status, headers and body; hidden users leave unfiltered listings only; every
//! request is logged with the peer's status.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Json;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use sandbox::conformance::Front;
use sandbox::tls::serve_plain;
use serde_json::{Value, json};

/// A peer serving `/peer/scim/v2/Users`: the list of two users (whatever the filter), and a 409 on
/// POST that echoes what it received.
fn peer() -> Router {
    let list = |RawQuery(query): RawQuery, headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Json(json!({
            "totalResults": 2, "query": query, "auth": auth,
            "Resources": [{"id": "1", "userName": "ana@contoso.com"}, {"id": "2", "userName": "jit@contoso.com"}],
        }))
    };
    let create = |headers: HeaderMap, body: String| async move {
        let mut answer = (
            StatusCode::CONFLICT,
            Json(json!({"status": "409", "received": body, "type": headers.get("content-type").and_then(|v| v.to_str().ok())})),
        )
            .into_response();
        answer
            .headers_mut()
            .insert("x-peer", "yes".parse().unwrap());
        answer
    };
    Router::new().route("/peer/scim/v2/Users", get(list).post(create))
}

#[tokio::test]
async fn the_front_relays_both_ways_hides_from_unfiltered_lists_and_logs() {
    let peer_addr = serve_plain(peer()).await.unwrap();
    let front = Front::new(&format!("http://{peer_addr}/peer/scim/v2")).unwrap();
    let front_addr = serve_plain(front.router()).await.unwrap();
    let users = format!("http://{front_addr}/api/2.0/preview/scim/v2/Users");
    let client = reqwest::Client::new();
    let names = |list: &Value| -> Vec<String> {
        list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    };

    front.hide("JIT@contoso.com");
    let list: Value = client
        .get(format!("{users}?count=10"))
        .bearer_auth("t0k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(&list), ["ana@contoso.com"]);
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["auth"], "Bearer t0k");
    assert_eq!(list["query"], "count=10");

    let filtered: Value = client
        .get(format!(
            "{users}?filter=userName%20eq%20%22jit%40contoso.com%22"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        names(&filtered),
        ["ana@contoso.com", "jit@contoso.com"],
        "filters are never hidden"
    );

    let answer = client
        .post(&users)
        .header("content-type", "application/scim+json")
        .body(r#"{"userName":"jit@contoso.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 409);
    assert_eq!(answer.headers()["x-peer"], "yes");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["received"], r#"{"userName":"jit@contoso.com"}"#);
    assert_eq!(body["type"], "application/scim+json");

    let log: Vec<(String, u16)> = front
        .log()
        .iter()
        .map(|r| (r.method.to_string(), r.status))
        .collect();
    assert_eq!(
        log,
        [
            ("GET".to_owned(), 200),
            ("GET".to_owned(), 200),
            ("POST".to_owned(), 409)
        ]
    );
    front.clear_log();
    assert!(front.log().is_empty());

    let outside = client
        .get(format!("http://{front_addr}/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
}
