//! A vault's 403 in words: which vault, what is missing (the RBAC role, an access policy, the firewall)
//! and where to grant it, read from the answer as the SDK hands it over.

use azure_core::error::ErrorKind;
use azure_core::http::headers::Headers;
use azure_core::http::{RawResponse, StatusCode};

use super::explain;

const VAULT: &str = "https://kv-dbx-sync.vault.azure.net/";

/// The error the SDK gives for a 403 with this body.
fn refused(body: serde_json::Value) -> azure_core::Error {
    let raw = RawResponse::from_bytes(StatusCode::Forbidden, Headers::new(), body.to_string());
    azure_core::Error::with_message(
        ErrorKind::HttpResponse {
            status: StatusCode::Forbidden,
            error_code: Some("Forbidden".to_owned()),
            raw_response: Some(Box::new(raw)),
        },
        "Forbidden",
    )
}

fn words(body: serde_json::Value) -> String {
    explain(&refused(body), &url::Url::parse(VAULT).unwrap())
}

fn assert_says(words: &str, needles: &[&str]) {
    for needle in needles {
        assert!(words.contains(needle), "{needle:?} not in {words}");
    }
}

#[test]
fn an_rbac_refusal_names_the_vault_and_the_key_vault_secrets_user_role() {
    let said = words(serde_json::json!({ "error": {
        "code": "Forbidden",
        "message": "Caller is not authorized to perform action on resource.",
        "innererror": { "code": "ForbiddenByRbac" }
    }}));
    assert_says(
        &said,
        &[
            "HTTP 403 Forbidden (ForbiddenByRbac) from vault kv-dbx-sync.vault.azure.net",
            "lacks the role \"Key Vault Secrets User\" on the vault",
            "Access control (IAM)",
        ],
    );
    assert!(!said.contains("access polic"), "{said}");
}

#[test]
fn an_access_policy_refusal_asks_for_get_on_secrets_in_the_vaults_access_policies() {
    let said = words(serde_json::json!({ "error": {
        "code": "Forbidden",
        "message": "The user, group or application 'appid=…;oid=…' does not have secrets get permission on \
                    key vault 'kv-dbx-sync;location=westeurope'.",
        "innererror": { "code": "AccessDenied" }
    }}));
    assert_says(
        &said,
        &[
            "from vault kv-dbx-sync.vault.azure.net",
            "the vault uses access policies",
            "an access policy for the app's identity with Get on secrets",
            "Key Vault Secrets User",
        ],
    );
}

#[test]
fn a_firewall_refusal_says_it_is_the_network_not_a_role() {
    let said = words(serde_json::json!({ "error": {
        "code": "Forbidden",
        "message": "Client address is not authorized and caller is not a trusted service.\r\nClient address: 20.1.2.3",
        "innererror": { "code": "ForbiddenByFirewall" }
    }}));
    assert_says(
        &said,
        &["from vault kv-dbx-sync.vault.azure.net", "firewall refused"],
    );
    assert!(!said.contains("Key Vault Secrets User"), "{said}");
}

#[test]
fn an_unexplained_refusal_names_the_role_the_access_policy_and_the_firewall() {
    for body in [
        serde_json::json!({}),
        serde_json::json!("not an error document"),
    ] {
        let said = words(body);
        assert_says(
            &said,
            &[
                "HTTP 403 Forbidden from vault kv-dbx-sync.vault.azure.net",
                "\"Key Vault Secrets User\"",
                "or, if the vault uses access policies, an access policy for the app's identity with Get on secrets",
                "firewall",
            ],
        );
    }
}
