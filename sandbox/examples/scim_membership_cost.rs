//! Emulator time per request (router called in-process, no network) next to a group of 85,000
//! members, as the benchmark's marker group grows: a PATCH adding 50 members, a PATCH removing one by
//! value filter, and a user creation (BENCHMARKS.md, "An emulator artefact this exposed").
//!
//! A measurement, not a test, so an example rather than an ignored test that could not fail:
//! `cargo run --release -p sandbox --example scim_membership_cost`.

use std::time::{Duration, Instant};

use axum::body::Body;
use sandbox::scim::{SCIM_ROOT, ScimWorkspace};
use serde_json::{Value, json};
use tower::ServiceExt;

const PAT: &str = "dapi0123456789abcdef-example";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    const SIZE: usize = 85_000;
    const ROUNDS: usize = 40;
    let scim = ScimWorkspace::new(PAT);
    scim.set_patch_answers_204(true);
    let group = scim.add_group("entra-sync-managed");
    let ids: Vec<String> = (0..SIZE + 50 * ROUNDS)
        .map(|i| scim.add_user(&format!("user{i}@contoso.com"), "", true))
        .collect();
    let router = scim.router();
    let call = |method: &'static str, path: String, body: Value| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{SCIM_ROOT}{path}"))
            .header("authorization", format!("Bearer {PAT}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()));
        let router = router.clone();
        async move {
            let started = Instant::now();
            let response = router.oneshot(request?).await?;
            let took = started.elapsed();
            if !response.status().is_success() {
                return Err(format!("{method} {path}: {}", response.status()).into());
            }
            Ok::<_, Box<dyn std::error::Error>>(took)
        }
    };
    let add = |ids: &[String]| {
        let values: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
        json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "add", "path": "members", "value": values }] })
    };
    let seeding = Instant::now();
    for chunk in ids[..SIZE].chunks(1_000) {
        call("PATCH", format!("/Groups/{group}"), add(chunk)).await?;
    }
    println!("seeded {SIZE} members in {:?}", seeding.elapsed());
    let (mut adds, mut removes, mut creates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let batch = &ids[SIZE + 50 * round..SIZE + 50 * (round + 1)];
        adds.push(call("PATCH", format!("/Groups/{group}"), add(batch)).await?);
        let remove = json!({ "schemas": [PATCH_SCHEMA], "Operations": [
            { "op": "remove", "path": format!("members[value eq \"{}\"]", ids[round * 1_000]) }] });
        removes.push(call("PATCH", format!("/Groups/{group}"), remove).await?);
        let user =
            json!({ "schemas": [USER_SCHEMA], "userName": format!("new{round}@contoso.com") });
        creates.push(call("POST", "/Users".to_owned(), user).await?);
    }
    for (what, mut times) in [
        ("PATCH add 50", adds),
        ("PATCH remove 1 by filter", removes),
        ("POST /Users", creates),
    ] {
        times.sort();
        let mean = times.iter().sum::<Duration>() / ROUNDS as u32;
        println!(
            "{what}: median {:?}, mean {mean:?}, max {:?}",
            times[ROUNDS / 2],
            times[ROUNDS - 1]
        );
    }
    Ok(())
}
