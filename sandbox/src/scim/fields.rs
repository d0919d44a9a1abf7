//! Reading attribute values out of request bodies (POST, PUT, and PATCH operation values). Booleans in
//! a POST or PUT body are JSON booleans (the REST reference's schema, the Go SDK); a PATCH of `active`
//! takes only the forms Databricks' own clients send: the Terraform provider's and the knowledge base's
//! `[{"value":"false"}]`, the Python SDK example's `"false"` ([`patched_flag`]); multi-valued attributes (`members`, `groups`, `entitlements`) must be arrays of
//! `{"value": "…"}` objects, anything else is `invalidSyntax`. Entitlements must be ones the service knows.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::ScimError;

/// Entitlement values a workspace accepts.
pub(crate) const ENTITLEMENTS: [&str; 5] = [
    "workspace-access",
    "databricks-sql-access",
    "allow-cluster-create",
    "allow-instance-pool-create",
    "workspace-consume",
];

/// A boolean in any of the forms clients send.
pub(crate) fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Array(items) if items.len() == 1 => items[0].get("value").and_then(flag),
        _ => None,
    }
}

/// The value of a PATCH of `active`, in a form Databricks' clients send: a list of one
/// `{"value": "true"|"false"}` (Terraform provider `PatchRequestWithValue`, knowledge base) or the
/// string (Python SDK example), case-insensitively. A bare JSON boolean is refused: no Databricks source
/// sends one, so a client that relies on it is not known to work against a real workspace.
pub(crate) fn patched_flag(value: &Value) -> Result<bool, ScimError> {
    let text = match value {
        Value::String(text) => Some(text.as_str()),
        Value::Array(items) if items.len() == 1 => items[0].get("value").and_then(Value::as_str),
        _ => None,
    };
    match text {
        Some(t) if t.eq_ignore_ascii_case("true") => Ok(true),
        Some(t) if t.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!(
            "active must be given as [{{\"value\": \"true\"}}] or [{{\"value\": \"false\"}}], not {value}."
        ))),
    }
}

/// The `value`s of an array of `{"value": "…"}` objects.
pub(crate) fn values(value: &Value) -> Result<Vec<String>, ScimError> {
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_syntax());
    };
    items
        .iter()
        .map(|item| {
            item.get("value")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(ScimError::invalid_syntax)
        })
        .collect()
}

/// `values` without repeats, in first-seen order.
pub(crate) fn distinct_values(value: &Value) -> Result<Vec<String>, ScimError> {
    let mut values = values(value)?;
    let mut seen = HashSet::with_capacity(values.len());
    values.retain(|v| seen.insert(v.clone()));
    Ok(values)
}

/// Fails on an entitlement the service does not know.
pub(crate) fn check_entitlements(entitlements: &[String]) -> Result<(), ScimError> {
    match entitlements
        .iter()
        .find(|e| !ENTITLEMENTS.contains(&e.as_str()))
    {
        Some(unknown) => Err(ScimError::invalid_value(format!(
            "Entitlement {unknown} is not valid. Valid entitlements are: {}.",
            ENTITLEMENTS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A user body's `emails` (the user name's when absent) and `name` (an object, if any).
pub(crate) fn emails_and_name(
    body: &Map<String, Value>,
    user_name: &str,
) -> Result<(Vec<Value>, Option<Value>), ScimError> {
    let emails = match body.get("emails") {
        None | Some(Value::Null) => vec![super::store::default_email(user_name)],
        Some(value) => {
            values(value)?;
            value.as_array().cloned().unwrap_or_default()
        }
    };
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => Some(value.clone()),
        Some(_) => return Err(ScimError::invalid_syntax()),
    };
    Ok((emails, name))
}

/// An optional string attribute of a body; present but not a string is `invalidSyntax`.
pub(crate) fn text(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ScimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_syntax()),
    }
}

/// Fails unless the body's `schemas` names `urn`: every create and replace the Databricks clients send
/// declares its resource's schema (the Terraform provider's `User`, `Group` and `ServicePrincipal`
/// structs, the REST reference's examples), and so does the product; a body without it is refused
/// here, so a client that dropped it is caught (what a real workspace answers to one is unconfirmed).
pub(crate) fn declares(body: &Map<String, Value>, urn: &str) -> Result<(), ScimError> {
    let declared = (body.get("schemas").and_then(Value::as_array))
        .is_some_and(|schemas| schemas.iter().any(|s| s.as_str() == Some(urn)));
    if declared {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax_because(format!(
            "The request must declare the schema {urn}."
        )))
    }
}

/// A required string attribute.
pub(crate) fn required_text(body: &Map<String, Value>, key: &str) -> Result<String, ScimError> {
    text(body, key)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value(format!("Required attribute {key} is missing.")))
}

/// An optional boolean attribute (`default` when absent).
pub(crate) fn flag_or(
    body: &Map<String, Value>,
    key: &str,
    default: bool,
) -> Result<bool, ScimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => flag(value).ok_or_else(ScimError::invalid_syntax),
    }
}

/// An optional multi-valued attribute, as distinct `value`s.
pub(crate) fn list(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, ScimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(value) => distinct_values(value),
    }
}

/// The `entitlements` of a body, checked.
pub(crate) fn entitlements(body: &Map<String, Value>) -> Result<Vec<String>, ScimError> {
    let entitlements = list(body, "entitlements")?;
    check_entitlements(&entitlements)?;
    Ok(entitlements)
}
