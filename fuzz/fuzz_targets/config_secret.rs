//! No secret in any output (ARCHITECTURE.md, Invariants): a `scimToken` value that is not a clean
//! https URL is never echoed. Users paste the PAT itself where the Key Vault secret URL belongs, so
//! the configuration's messages may quote the value only when it parsed as an https URL without
//! credentials, query or fragment (`SecretUrl::parse`).
//!
//! The input builds a configuration around a token that carries a distinctive secret, written in
//! several ways (plain, next to `auth`, in an array or object, under a misspelt key, in
//! `defaults`), with arbitrary other fields; every message of a refusal is then searched for it.
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use entra_databricks_sync::config::Config;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use url::Url;

/// Stands for a PAT: distinctive enough never to occur by chance.
const SECRET: &str = "dapi5ec2e7F0221CAFE";

#[derive(Debug, Arbitrary)]
enum Shape {
    /// `"scimToken": token`
    Plain,
    /// `"scimToken": token` with `"auth": <value>`
    WithAuth(String),
    /// `"scimToken": [token]`
    InArray,
    /// `"scimToken": {"value": token}`
    InObject,
    /// `"<key>": token` under a key the entry does not know, such as `scimtoken`
    UnderKey(String),
    /// `"defaults": {"scimToken": token}`
    InDefaults,
}

#[derive(Debug, Arbitrary)]
struct Input {
    before: String,
    after: String,
    shape: Shape,
    name: Option<String>,
    /// `None`: a valid workspace URL.
    instance: Option<String>,
    /// Empty: one valid group.
    groups: Vec<String>,
    /// More keys of the workspace entry (options, typos, anything).
    extra: Vec<(String, String)>,
    /// A second, valid workspace entry, so duplicate names and per-entry labels are reached.
    second: Option<Option<String>>,
}

/// The keys of a workspace entry: a value under one of them (but `scimToken`) is not a token, and some
/// are quoted in messages by design (`name`, `managedGroup`, ...).
const WORKSPACE_KEYS: &[&str] = &[
    "name",
    "databricksInstance",
    "accessGroups",
    "scimToken",
    "auth",
    "groupNames",
    "nested",
    "includeDisabled",
    "userName",
    "scimRequestsPerSecond",
    "managedGroup",
    "deprovision",
    "maxDeprovision",
    "mirrorGroups",
    "entitlements",
    "includeServicePrincipals",
    "identities",
    "workspaceId",
];

/// `text` without any occurrence of the secret, so only the token can carry it.
fn clean(text: &str) -> String {
    let mut text = text.to_owned();
    while text.contains(SECRET) {
        text = text.replace(SECRET, "");
    }
    text
}

/// Whether a message may quote the value (see the module documentation).
fn may_be_shown(token: &str) -> bool {
    Url::parse(token.trim()).is_ok_and(|url| {
        url.scheme() == "https"
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
    })
}

fuzz_target!(|input: Input| {
    let token = format!("{}{SECRET}{}", clean(&input.before), clean(&input.after));
    let shown_by_design =
        matches!(input.shape, Shape::Plain | Shape::WithAuth(_)) && may_be_shown(&token);

    let mut entry = Map::new();
    if let Some(name) = &input.name {
        entry.insert("name".into(), json!(clean(name)));
    }
    let instance = input.instance.as_deref().map(clean);
    entry.insert(
        "databricksInstance".into(),
        json!(instance.unwrap_or_else(|| "https://adb-1.2.azuredatabricks.net".into())),
    );
    let groups: Vec<String> = input.groups.iter().map(|g| clean(g)).collect();
    entry.insert(
        "accessGroups".into(),
        if groups.is_empty() {
            json!("Databricks-Group-Test")
        } else {
            json!(groups)
        },
    );
    for (key, value) in &input.extra {
        entry
            .entry(clean(key))
            .or_insert_with(|| json!(clean(value)));
    }
    let mut top = Map::new();
    match &input.shape {
        Shape::Plain => {
            entry.insert("scimToken".into(), json!(token));
        }
        Shape::WithAuth(auth) => {
            entry.insert("scimToken".into(), json!(token));
            entry.insert("auth".into(), json!(clean(auth)));
        }
        Shape::InArray => {
            entry.insert("scimToken".into(), json!([token]));
        }
        Shape::InObject => {
            entry.insert("scimToken".into(), json!({ "value": token }));
        }
        Shape::UnderKey(key) => {
            let key = clean(key);
            if WORKSPACE_KEYS.contains(&key.as_str()) {
                return;
            }
            entry.insert(key, json!(token));
        }
        Shape::InDefaults => {
            top.insert("defaults".into(), json!({ "scimToken": token }));
        }
    }
    let mut workspaces = vec![Value::Object(entry)];
    if let Some(name) = &input.second {
        let mut other = json!({
            "databricksInstance": "https://adb-3.4.azuredatabricks.net",
            "accessGroups": ["Databricks-Group-Prod"],
            "scimToken": "https://kv.vault.azure.net/secrets/prod-pat",
        });
        if let Some(name) = name {
            other["name"] = json!(clean(name));
        }
        workspaces.push(other);
    }
    top.insert("workspaces".into(), Value::Array(workspaces));
    let text = serde_json::to_string(&Value::Object(top)).expect("a JSON value serializes");

    if let Err(error) = Config::parse(&text, Path::new("sync-config.json")) {
        let message = error.to_string();
        assert!(
            shown_by_design || !message.contains(SECRET),
            "the secret in scimToken {token:?} is echoed:\n{message}"
        );
        for problem in error.problems() {
            assert!(shown_by_design || !problem.contains(SECRET), "{problem}");
        }
    }
});
