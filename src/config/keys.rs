//! Helpers for walking JSON objects by hand: the type names used in "must be X, got Y"
//! messages, and the unknown-key check with its "did you mean" suggestion, so that a misspelt
//! key is always an error and never silently ignored.

use serde_json::{Map, Value};

/// `null`, `a boolean`, … for "must be X, got Y" messages (of the configuration, and of the host's
/// payloads in `functions::payload`).
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The known key `key` was probably meant as: same ignoring case, `_` and `-`, or within edit
/// distance 2.
pub(super) fn suggestion(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let fold = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .collect::<String>()
            .to_lowercase()
    };
    known
        .iter()
        .map(|k| {
            let distance = if fold(k) == fold(key) {
                0
            } else {
                strsim::levenshtein(k, key)
            };
            (distance, *k)
        })
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// One message per unknown key of `object`, and the known keys they suggest.
pub(super) fn unknown_keys(
    object: &Map<String, Value>,
    known: &[&'static str],
) -> (Vec<String>, Vec<&'static str>) {
    let (mut messages, mut suggested) = (Vec::new(), Vec::new());
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        match suggestion(key, known) {
            Some(hint) => {
                messages.push(format!("unknown key {key:?} (did you mean {hint:?}?)"));
                suggested.push(hint);
            }
            None => messages.push(format!("unknown key {key:?}")),
        }
    }
    (messages, suggested)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["name", "databricksInstance", "accessGroups", "scimToken"];

    #[test]
    fn near_misses_suggest_the_known_key() {
        for (typo, meant) in [
            ("acessGroups", "accessGroups"),
            ("AccessGroups", "accessGroups"),
            ("databricks_instance", "databricksInstance"),
            ("SCIM-TOKEN", "scimToken"),
            ("nme", "name"),
        ] {
            assert_eq!(suggestion(typo, KNOWN), Some(meant), "{typo}");
        }
        assert_eq!(suggestion("comment", KNOWN), None);
        assert_eq!(suggestion("token", KNOWN), None);
    }

    #[test]
    fn unknown_keys_are_listed_with_their_suggestions() {
        let object = serde_json::json!({"name": 1, "acessGroups": 2, "dryRun": 3});
        let object = object.as_object().cloned().unwrap_or_default();
        let (messages, suggested) = unknown_keys(&object, KNOWN);
        assert_eq!(
            messages,
            [
                r#"unknown key "acessGroups" (did you mean "accessGroups"?)"#,
                r#"unknown key "dryRun""#
            ]
        );
        assert_eq!(suggested, ["accessGroups"]);
        assert_eq!(kind(&serde_json::json!([])), "an array");
    }
}
