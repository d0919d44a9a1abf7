//! The principal vocabulary every module shares: who a principal is on each side (an Entra object id
//! and display name as one shared `Identity`, a Databricks user name or application id, a workspace
//! id, a fingerprint of a listed `externalId`), and the key the sync compares principals by
//! ([`Principal`], of a [`PrincipalKind`]). Each type is
//! parsed once at the edge and sized for a run that holds one per principal of every workspace
//! (`sync/plan/tests.rs` pins the sizes). The modules that used to own them re-export them.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A user or a service principal: what a token belongs to, and which SCIM collection a principal is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    ServicePrincipal,
}

/// A workspace id (users, service principals, groups): short (Databricks ids are up to 19 digits), so
/// kept inline without an allocation of its own; a run holds hundreds of thousands of them.
pub type ScimId = compact_str::CompactString;

/// A listed principal's `externalId` as the sync compares it with an Entra object id: a 32-bit
/// fingerprint of the GUID, 4 bytes inline (a listing holds one per principal of the workspace, and
/// at 100,000 users a 17-byte GUID would grow every listed principal by 16 bytes: ARCHITECTURE.md,
/// "Memory at scale"). Two different GUIDs share a fingerprint with odds of 1 in 2^32; the cost of
/// that is one difference not reported, never a write (the sync never changes an `externalId`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExternalId(u32);

impl ExternalId {
    /// Not set, or not returned.
    pub const ABSENT: ExternalId = ExternalId(0);
    /// Set to something that is not a GUID (so not an Entra object id).
    pub const OTHER: ExternalId = ExternalId(1);

    /// The fingerprint of a GUID (never [`ExternalId::ABSENT`] or [`ExternalId::OTHER`]).
    pub fn of(guid: &uuid::Uuid) -> ExternalId {
        let folded = guid
            .as_bytes()
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .fold(0x9e37_79b9_u32, |hash, word| {
                (hash ^ word).wrapping_mul(0x0100_0193).rotate_left(13)
            });
        ExternalId(folded.max(2))
    }

    pub fn is_absent(self) -> bool {
        self == ExternalId::ABSENT
    }

    /// Whether this is (the fingerprint of) `guid`.
    pub fn is(self, guid: &uuid::Uuid) -> bool {
        self == ExternalId::of(guid)
    }
}

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match text.as_deref().map(str::trim) {
            None | Some("") => ExternalId::ABSENT,
            Some(text) => {
                uuid::Uuid::try_parse(text).map_or(ExternalId::OTHER, |guid| ExternalId::of(&guid))
            }
        })
    }
}

/// An Entra object id: a GUID, kept in 16 bytes (a run holds one per person); any other text as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectId {
    Guid(uuid::Uuid),
    Text(Arc<str>),
}

impl From<&str> for ObjectId {
    fn from(text: &str) -> Self {
        match uuid::Uuid::parse_str(text) {
            // Only the form Graph writes (lower case, hyphenated) is kept as a GUID: the text round-trips.
            Ok(id) if id.hyphenated().to_string() == text => ObjectId::Guid(id),
            _ => ObjectId::Text(Arc::from(text)),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectId::Guid(id) => id.hyphenated().fmt(f),
            ObjectId::Text(text) => f.write_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ObjectId::from(text.as_ref()))
    }
}

/// The Entra object id a principal is created with (its `externalId`), kept inline in 16 bytes (no
/// allocation; a run holds one per desired principal of every workspace). The nil GUID stands for an
/// object id that is not a GUID, which Graph never sends: such a principal is created without one.
pub type EntraId = uuid::Uuid;

/// The [`EntraId`] of a Graph object id (nil when it is not a GUID).
pub fn entra_id(id: &ObjectId) -> EntraId {
    match id {
        ObjectId::Guid(guid) => *guid,
        ObjectId::Text(_) => EntraId::nil(),
    }
}

/// Who a desired principal is in Entra: its display name and object id in one shared allocation,
/// 8 bytes a pointer. A run holds one per desired principal of every workspace (the desired lists, a
/// first sync's creations): a display name `Arc<str>` and an inline [`EntraId`] took 32 bytes there.
/// The same person's identity is made once (with its [`Person`](crate::entra::Person)) and shared by
/// every workspace that wants it. A clone is a pointer.
#[derive(Clone)]
pub struct Identity(triomphe::ThinArc<EntraId, u8>);

impl Identity {
    pub fn new(id: EntraId, display_name: &str) -> Identity {
        Identity(triomphe::ThinArc::from_header_and_slice(
            id,
            display_name.as_bytes(),
        ))
    }

    /// The Entra object id (nil when it is not a GUID).
    pub fn id(&self) -> EntraId {
        self.0.header.header
    }

    pub fn display_name(&self) -> &str {
        // Made from a `&str` only, so always UTF-8.
        std::str::from_utf8(&self.0.slice).unwrap_or_default()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id())
            .field("display_name", &self.display_name())
            .finish()
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Identity) -> bool {
        self.id() == other.id() && self.display_name() == other.display_name()
    }
}

impl Eq for Identity {}

/// `as_str`, `shared` and `Display` of a key kept as shared text (`UserName`, `AppId`).
macro_rules! shared_text {
    ($key:ident) => {
        impl $key {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The shared text, for another holder of the same key.
            pub fn shared(&self) -> &Arc<str> {
                &self.0
            }
        }

        impl fmt::Display for $key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A Databricks user name: lower case, as Databricks stores it, so names compare case-insensitively.
/// Shared (`Arc`): one name is a key in several workspaces' desired and current principals, actions and
/// marker lists of a run, and is kept once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UserName(Arc<str>);

impl UserName {
    /// `None` for a value that cannot be a sign-in name (empty, spaces, no `@`).
    pub fn parse(raw: &str) -> Option<UserName> {
        Some(UserName(Arc::from(UserName::normalize(raw)?)))
    }

    /// As [`UserName::parse`], sharing `raw` when it is a user name already (the usual case: Databricks
    /// lists user names in lower case).
    pub fn parse_shared(raw: &Arc<str>) -> Option<UserName> {
        Some(match UserName::normalize(raw)? {
            Cow::Borrowed(_) => UserName(Arc::clone(raw)),
            Cow::Owned(name) => UserName(Arc::from(name)),
        })
    }

    /// The user name `raw` stands for (borrowed when it is one already), or `None`.
    pub fn normalize(raw: &str) -> Option<Cow<'_, str>> {
        let trimmed = raw.trim();
        // ASCII (nearly every name) is checked byte by byte; anything else by its lower-case form.
        let lower = if trimmed.is_ascii() {
            !trimmed.bytes().any(|b| b.is_ascii_uppercase())
        } else {
            trimmed
                .chars()
                .flat_map(char::to_lowercase)
                .eq(trimmed.chars())
        };
        let name = if lower {
            Cow::Borrowed(trimmed)
        } else {
            Cow::Owned(trimmed.to_lowercase())
        };
        let valid = !name.is_empty()
            && !name.chars().any(char::is_whitespace)
            && name
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        valid.then_some(name)
    }

    /// A name [`UserName::normalize`] has returned already (a run's shared copy of it).
    pub(crate) fn normalized(name: Arc<str>) -> UserName {
        UserName(name)
    }
}

shared_text!(UserName);

/// An Entra application (client) id, which Databricks keeps as a service principal's `applicationId`:
/// a GUID, lower case and hyphenated, so ids compare whatever case either side writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AppId(Arc<str>);

impl AppId {
    /// `None` for a value that is not a GUID.
    pub fn parse(raw: &str) -> Option<AppId> {
        uuid::Uuid::parse_str(raw.trim())
            .ok()
            .map(|id| AppId(Arc::from(id.hyphenated().to_string())))
    }
}

shared_text!(AppId);

/// A workspace principal as the sync compares them: a user by user name, a service principal by
/// application id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Principal {
    User(UserName),
    ServicePrincipal(AppId),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(name) => name.fmt(f),
            Principal::ServicePrincipal(id) => id.fmt(f),
        }
    }
}

impl Principal {
    /// Whether this is a user or a service principal.
    pub fn kind(&self) -> PrincipalKind {
        match self {
            Principal::User(_) => PrincipalKind::User,
            Principal::ServicePrincipal(_) => PrincipalKind::ServicePrincipal,
        }
    }

    /// The key as Databricks writes it: the user name, or the application id.
    pub fn key(&self) -> &str {
        match self {
            Principal::User(name) => name.as_str(),
            Principal::ServicePrincipal(id) => id.as_str(),
        }
    }
}
