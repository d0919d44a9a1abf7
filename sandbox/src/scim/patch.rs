//! The PatchOp message: `{"schemas":[PatchOp URN],"Operations":[{"op","path"?,"value"?}]}`. Operation names
//! are case-insensitive (`Replace` as Entra sends it works); only `add`, `remove` and `replace` exist.
//! An operation without `path` carries an object whose keys are paths, and is split into one operation per
//! key. Paths may carry a value filter (`members[value eq "…"]`), which only `remove` accepts. Also here:
//! applying an operation to a multi-valued attribute of plain values (members, entitlements).

use std::collections::HashSet;

use serde_json::Value;

use super::error::{ScimError, parse_body};
use super::fields::{distinct_values, values};
use super::filter::{Filter, VALUE_SCHEMA, ValueOf};

pub(crate) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Add,
    Remove,
    Replace,
}

/// An attribute path: `attribute` is lower-cased and keeps any sub-attribute (`name.givenname`,
/// `emails.value` for `emails[type eq "work"].value`); `filter` is the text between the brackets.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub attribute: String,
    pub filter: Option<String>,
    pub raw: String,
}

#[derive(Debug, Clone)]
pub(crate) struct PatchOp {
    pub kind: OpKind,
    pub path: Path,
    pub value: Option<Value>,
}

impl PatchOp {
    /// The operation's value, required for `add` and `replace`.
    pub fn value(&self) -> Result<&Value, ScimError> {
        self.value.as_ref().ok_or_else(|| {
            ScimError::invalid_syntax_because(format!(
                "Operation on {} needs a value.",
                self.path.raw
            ))
        })
    }

    /// The error for a path this resource does not support.
    pub fn unsupported(&self) -> ScimError {
        ScimError::invalid_path(format!("Unsupported path: {}.", self.path.raw))
    }
}

/// Parses a PatchOp body into operations, each with a path.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<PatchOp>, ScimError> {
    let body = parse_body(body)?;
    let has_schema = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA)));
    if !has_schema {
        return Err(ScimError::invalid_syntax_because(format!(
            "The request must declare the schema {PATCH_SCHEMA}."
        )));
    }
    let Some(Value::Array(operations)) = body.get("Operations") else {
        return Err(ScimError::invalid_syntax());
    };
    let mut parsed = Vec::new();
    for operation in operations {
        let kind = match operation
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("add") => OpKind::Add,
            Some("remove") => OpKind::Remove,
            Some("replace") => OpKind::Replace,
            other => {
                return Err(ScimError::invalid_syntax_because(format!(
                    "Unsupported PATCH operation {}.",
                    other.unwrap_or("(none)")
                )));
            }
        };
        let value = operation.get("value").cloned();
        match operation.get("path") {
            Some(Value::String(path)) => parsed.push(PatchOp {
                kind,
                path: parse_path(path)?,
                value,
            }),
            Some(_) => return Err(ScimError::invalid_syntax()),
            None if kind == OpKind::Remove => {
                return Err(ScimError::no_target("A remove operation needs a path."));
            }
            None => {
                let Some(Value::Object(fields)) = value else {
                    return Err(ScimError::invalid_syntax());
                };
                for (path, value) in fields {
                    parsed.push(PatchOp {
                        kind,
                        path: parse_path(&path)?,
                        value: Some(value),
                    });
                }
            }
        }
    }
    Ok(parsed)
}

fn parse_path(raw: &str) -> Result<Path, ScimError> {
    let trimmed = raw.trim();
    let (attribute, filter) = match trimmed.split_once('[') {
        None => (trimmed.to_owned(), None),
        Some((attribute, rest)) => {
            let (filter, sub) = rest
                .rsplit_once(']')
                .ok_or_else(|| ScimError::invalid_path(format!("Invalid path: {raw}.")))?;
            (format!("{attribute}{sub}"), Some(filter.to_owned()))
        }
    };
    if attribute.is_empty() {
        return Err(ScimError::invalid_path(format!("Invalid path: {raw}.")));
    }
    Ok(Path {
        attribute: attribute.to_ascii_lowercase(),
        filter,
        raw: raw.to_owned(),
    })
}

/// Applies `op` to a multi-valued attribute held as plain values (member ids, entitlement names).
/// Returns the values it added, for the caller to check.
pub(crate) fn apply_to_list(
    list: &mut Vec<String>,
    op: &PatchOp,
) -> Result<Vec<String>, ScimError> {
    match (op.kind, op.path.filter.as_deref()) {
        (OpKind::Remove, Some(text)) => {
            let filter = Filter::parse(text, VALUE_SCHEMA)?;
            list.retain(|v| !filter.matches(&ValueOf(v)));
            Ok(Vec::new())
        }
        (_, Some(_)) => Err(ScimError::invalid_path(format!(
            "Only remove accepts a filtered path: {}.",
            op.path.raw
        ))),
        (OpKind::Add, None) => {
            let present: HashSet<&String> = list.iter().collect();
            let added: Vec<String> = distinct_values(op.value()?)?
                .into_iter()
                .filter(|v| !present.contains(v))
                .collect();
            list.extend(added.iter().cloned());
            Ok(added)
        }
        (OpKind::Replace, None) => {
            let replaced = distinct_values(op.value()?)?;
            let added = replaced
                .iter()
                .filter(|v| !list.contains(v))
                .cloned()
                .collect();
            *list = replaced;
            Ok(added)
        }
        (OpKind::Remove, None) => {
            match &op.value {
                None => list.clear(),
                Some(value) => {
                    let gone = values(value)?;
                    list.retain(|v| !gone.contains(v));
                }
            }
            Ok(Vec::new())
        }
    }
}
