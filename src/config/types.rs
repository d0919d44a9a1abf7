//! The small values of the configuration that parse themselves: workspace names (compared
//! case-insensitively) and group references (an Entra ID object id or a display name), plus
//! [`InvalidValue`], the error every newtype parser of this module returns. The two URL newtypes
//! live in `workspace_url.rs` and `secret_url.rs`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a single value was rejected. The message describes the value relative to its field
/// (for instance `must use https, got "http://…"`); the caller adds the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub(super) String);

/// `text` trimmed, or the "must not be empty" problem naming what to give (`the workspace URL, like
/// …`): every value of the file is trimmed and must say something.
pub(super) fn trimmed<'t>(text: &'t str, give: &str) -> Result<&'t str, InvalidValue> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InvalidValue(format!("must not be empty: give {give}")));
    }
    Ok(text)
}

impl InvalidValue {
    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// `FromStr` through the type's `parse`, and serialization as its `Display` text: a value is
/// written back to JSON exactly as it would be read again. With `shown as`, `Display` writes that text.
macro_rules! parsed_from_text {
    ($type:ty, shown as |$value:ident| $text:expr) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let $value = self;
                f.write_str($text)
            }
        }

        parsed_from_text!($type);
    };
    ($type:ty) => {
        impl FromStr for $type {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}
pub(super) use parsed_from_text;

/// Longest accepted workspace name, in characters.
pub const MAX_NAME_LEN: usize = 64;

const NAME_RULE: &str = "use letters, digits, '.', '_' and '-', at most 64 characters, \
     starting with a letter or digit (names are used in query strings, where several are joined with commas)";

/// A workspace name as written in the configuration (or the host it defaults to).
///
/// Equality, hashing and ordering ignore ASCII case (names are ASCII by construction);
/// [`Display`](fmt::Display) and [`as_str`](Self::as_str) keep the original spelling.
#[derive(Debug, Clone)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// Checks `text` against `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
    ///
    /// # Errors
    /// [`InvalidValue`] saying which rule the text breaks.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let reason = if text.is_empty() {
            Some("it is empty".to_owned())
        } else if text.chars().count() > MAX_NAME_LEN {
            Some(format!("{} characters", text.chars().count()))
        } else if let Some(c) = text.chars().find(|c| !allowed(*c)) {
            Some(format!("{c:?} is not allowed"))
        } else if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            Some("it starts with a punctuation character".to_owned())
        } else {
            None
        };
        match reason {
            None => Ok(Self(text.to_owned())),
            Some(reason) => Err(InvalidValue(format!(
                "{text:?} is not a valid workspace name ({reason}): {NAME_RULE}"
            ))),
        }
    }

    /// The name the report gives the Databricks account (its id: a hyphenated GUID always keeps the
    /// rule, 36 characters of hex digits and `-`).
    pub fn of_account(account_id: &uuid::Uuid) -> Self {
        Self(account_id.hyphenated().to_string())
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` names this workspace (ASCII case-insensitive).
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl PartialEq for WorkspaceName {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for WorkspaceName {}

impl Hash for WorkspaceName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.0.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl Ord for WorkspaceName {
    fn cmp(&self, other: &Self) -> Ordering {
        let lower = |s: &str| {
            s.bytes()
                .map(|b| b.to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        lower(&self.0).cmp(&lower(&other.0))
    }
}

impl PartialOrd for WorkspaceName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

parsed_from_text!(WorkspaceName, shown as |name| &name.0);

/// One entry of `accessGroups`: an Entra ID group given by object id or by display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupRef {
    /// The item was a hyphenated GUID.
    ObjectId(uuid::Uuid),
    /// Any other non-empty text (trimmed); may contain commas.
    DisplayName(String),
}

impl GroupRef {
    /// Trims `text`; a hyphenated GUID becomes [`GroupRef::ObjectId`], anything else a display name.
    ///
    /// # Errors
    /// [`InvalidValue`] when the text is empty or only whitespace.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let text = trimmed(text, "an Entra ID group display name or object id")?;
        match uuid::Uuid::try_parse(text) {
            Ok(id) if text.len() == 36 => Ok(Self::ObjectId(id)),
            _ => Ok(Self::DisplayName(text.to_owned())),
        }
    }

    /// The text that identifies the group: the lower-case hyphenated id, or the display name.
    pub fn as_reference_string(&self) -> String {
        self.to_string()
    }

    /// The key under which two references name the same group: ids exactly, names ignoring case.
    pub(super) fn identity_key(&self) -> String {
        match self {
            Self::ObjectId(id) => format!("id:{id}"),
            Self::DisplayName(name) => format!("name:{}", name.to_lowercase()),
        }
    }
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ObjectId(id) => write!(f, "{}", id.hyphenated()),
            Self::DisplayName(name) => f.write_str(name),
        }
    }
}

parsed_from_text!(GroupRef);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashSet};

    #[test]
    fn workspace_names_follow_the_pattern() {
        for good in ["a", "analytics-test", "A.b_c-9", "9lives", &"x".repeat(64)] {
            assert_eq!(
                WorkspaceName::parse(good).map(|n| n.to_string()),
                Ok(good.to_owned())
            );
        }
        for (bad, reason) in [
            ("", "(it is empty)"),
            ("-lead", "(it starts with a punctuation character)"),
            ("a,b", "(',' is not allowed)"),
            ("a b", "(' ' is not allowed)"),
            ("é", "('é' is not allowed)"),
            (&"x".repeat(65), "(65 characters)"),
        ] {
            let err = WorkspaceName::parse(bad).expect_err(bad);
            assert!(err.message().contains(reason), "{bad:?}: {err}");
            assert!(err.message().ends_with(NAME_RULE), "{err}");
        }
    }

    #[test]
    fn workspace_names_compare_hash_and_order_ignoring_case_but_keep_spelling() {
        let upper = WorkspaceName::parse("Analytics-Prod").expect("valid");
        let lower = WorkspaceName::parse("analytics-prod").expect("valid");
        assert_eq!(upper, lower);
        assert_eq!(upper.cmp(&lower), Ordering::Equal);
        assert!(upper.matches("ANALYTICS-PROD"));
        assert_eq!(HashSet::from([upper.clone(), lower.clone()]).len(), 1);
        assert_eq!(BTreeSet::from([upper.clone(), lower]).len(), 1);
        assert_eq!(upper.as_str(), "Analytics-Prod");
        assert_eq!(
            serde_json::to_string(&upper).expect("json"),
            "\"Analytics-Prod\""
        );
        let b = WorkspaceName::parse("B").expect("valid");
        assert!(upper < b && b < WorkspaceName::parse("c").expect("valid"));
    }

    #[test]
    fn group_references_are_object_ids_only_in_hyphenated_form() {
        let id = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427";
        let parsed = GroupRef::parse(&format!("  {id} ")).expect("valid");
        assert!(matches!(parsed, GroupRef::ObjectId(_)));
        assert_eq!(parsed.to_string(), id.to_lowercase());
        let simple = id.replace('-', "");
        assert_eq!(
            GroupRef::parse(&simple),
            Ok(GroupRef::DisplayName(simple.clone()))
        );
        assert_eq!(
            GroupRef::parse(" Data, Science "),
            Ok(GroupRef::DisplayName("Data, Science".to_owned()))
        );
        assert_eq!(
            serde_json::to_string(&parsed).expect("json"),
            format!("\"{}\"", id.to_lowercase())
        );
        assert!(GroupRef::parse(" \t").is_err());
    }

    #[test]
    fn group_identity_ignores_case_of_display_names_only() {
        let a = GroupRef::parse("Readers").expect("valid");
        let b = GroupRef::parse("READERS").expect("valid");
        assert_eq!(a.identity_key(), b.identity_key());
        assert_ne!(a, b);
    }
}
