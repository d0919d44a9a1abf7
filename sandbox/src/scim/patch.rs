//! The PatchOp message: `{"schemas":[PatchOp URN],"Operations":[{"op","path"?,"value"?}]}`. Operation names
//! are case-insensitive (`Replace` as Entra sends it works); only `add`, `remove` and `replace` exist.
//! An operation without `path` carries an object whose keys are paths, and is split into one operation per
//! key. Paths may carry a value filter (`members[value eq "…"]`), which only `remove` accepts. Also here:
//! applying an operation to a multi-valued attribute of plain values: entitlements (a short list, changed
//! on a copy) and a group's members (changed in place, each change journaled, see [`super::members`]).

use std::collections::HashSet;

use serde_json::Value;

use super::error::{ScimError, parse_body};
use super::fields::{distinct_values, values};
use super::filter::{Filter, VALUE_SCHEMA, ValueOf};
use super::members::{Journal, Members};

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

/// Applies `op` to a multi-valued attribute held as a short list of plain values (entitlement names).
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

/// Applies `op` to a group's members as [`apply_to_list`] does to a list, in place, each change recorded
/// in `journal` (to check what was added, or to undo). Costs the size of the change, except a `replace`,
/// a `remove` of every member and a `remove` whose filter is not plain `value eq` comparisons, which
/// go through all the members.
pub(crate) fn apply_to_members(
    members: &mut Members,
    op: &PatchOp,
    journal: &mut Journal,
) -> Result<(), ScimError> {
    match (op.kind, op.path.filter.as_deref()) {
        (OpKind::Remove, Some(text)) => {
            let filter = Filter::parse(text, VALUE_SCHEMA)?;
            let gone: Vec<String> = match filter.equal_values() {
                Some(values) => values.into_iter().map(str::to_owned).collect(),
                None => members
                    .iter()
                    .filter(|m| filter.matches(&ValueOf(m)))
                    .cloned()
                    .collect(),
            };
            for id in &gone {
                journal.remove(members, id);
            }
        }
        (_, Some(_)) => {
            return Err(ScimError::invalid_path(format!(
                "Only remove accepts a filtered path: {}.",
                op.path.raw
            )));
        }
        (OpKind::Add, None) => {
            for id in distinct_values(op.value()?)? {
                journal.insert(members, id);
            }
        }
        (OpKind::Replace, None) => {
            // The new members in the order given: every current one leaves, then they join.
            let replaced = distinct_values(op.value()?)?;
            let current: Vec<String> = members.iter().cloned().collect();
            for id in &current {
                journal.remove(members, id);
            }
            for id in replaced {
                journal.insert(members, id);
            }
        }
        (OpKind::Remove, None) => {
            let gone = match &op.value {
                None => members.iter().cloned().collect(),
                Some(value) => values(value)?,
            };
            for id in &gone {
                journal.remove(members, id);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::members::walks;
    use super::*;

    fn operations(operations: Value) -> Vec<PatchOp> {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": operations });
        parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn members_removed_by_value_eq_are_looked_up_and_other_filters_and_replace_walk() {
        let mut members: Members = ["a", "b", "c", "d"].map(String::from).into_iter().collect();
        let mut journal = Journal::default();
        let mut apply = |operations: Vec<PatchOp>, members: &mut Members| {
            // How many times the operations walked the members, and the members after them.
            let before = walks::so_far();
            for op in &operations {
                apply_to_members(members, op, &mut journal).unwrap();
            }
            let walked = walks::so_far() - before;
            (walked, members.iter().cloned().collect::<Vec<String>>())
        };
        let by_value = operations(json!([
            { "op": "remove", "path": "members[value eq \"a\" or value eq \"c\"]" },
            { "op": "remove", "path": "members[value eq \"x\"]" },
        ]));
        assert_eq!(
            apply(by_value, &mut members),
            (0, vec!["b".into(), "d".into()])
        );
        let other = operations(json!([{ "op": "remove", "path": "members[value ne \"b\"]" }]));
        assert_eq!(apply(other, &mut members), (1, vec!["b".into()]));
        let replace = operations(json!([{ "op": "replace", "path": "members",
            "value": [{ "value": "d" }, { "value": "b" }, { "value": "e" }, { "value": "d" }] }]));
        let order = ["d", "b", "e"].map(String::from).to_vec();
        assert_eq!(apply(replace, &mut members), (1, order));
        assert_eq!(journal.added(&members), ["e"]);
        journal.undo(&mut members);
        let order: Vec<&str> = members.iter().map(String::as_str).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }
}
