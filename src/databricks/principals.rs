//! One path for the principals of a workspace or of the account ([`Level`]): users (`/Users`, keyed by
//! `userName`) and service principals
//! (`/ServicePrincipals`, keyed by `applicationId`, the Entra `appId`). List (projected, paged to the
//! end), find by key, create (409 means it exists), set `active` (200 or 204), delete (404 means done).
//! Everything the two kinds do differently is in one table (`Table`, chosen by [`PrincipalKind`]); the
//! listed types ([`ScimUser`](super::ScimUser), [`ScimServicePrincipal`](super::ScimServicePrincipal))
//! say their kind through [`Resource`] (`resource!`), and the calls that take a kind at run time
//! (`find`, `create`: what the sync's apply uses) pick the listed type in one place (`by_kind!`).
//! What differs by level is the words (`listing account users`) and a reactivation's refusal, which only
//! a workspace explains as a user deactivated in the account. Start with [`Scim::principals`].

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use super::listing::literal;
use super::refusals::account_deactivated;
use super::{Level, Scim, ScimError, ScimId};
use crate::http::{self, ApiError, Requests};
use crate::principal::PrincipalKind;

/// What a kind of principal is called on the wire and in messages.
pub(super) struct Table {
    /// The collection under the SCIM root.
    collection: &'static str,
    /// The attribute the sync keys the kind by (and filters on).
    key: &'static str,
    /// The attributes a listing and a look-up ask for.
    attributes: &'static str,
    /// "user", "service principal": operations are named with it.
    noun: &'static str,
    /// The body that creates one, before its `externalId`.
    body: fn(key: &str, display_name: &str) -> Value,
    /// What a workspace's refusal of a reactivation means beyond itself (users: deactivated in the
    /// Databricks account).
    reactivation_refused: Option<fn(&str, ApiError) -> ScimError>,
}

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const SERVICE_PRINCIPAL_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";

/// Users: a 409 on create says the user name is taken (for instance by a user created at first
/// sign-in).
const USERS: Table = Table {
    collection: "Users",
    key: "userName",
    attributes: "id,userName,active,externalId",
    noun: "user",
    body: |key, display_name| json!({ "schemas": [USER_SCHEMA], "userName": key, "displayName": display_name }),
    reactivation_refused: Some(account_deactivated),
};

/// Service principals: a 409 on create says `Service principal with application ID <x> already
/// exists.`; created active, with a display name only when there is one.
const SERVICE_PRINCIPALS: Table = Table {
    collection: "ServicePrincipals",
    key: "applicationId",
    attributes: "id,applicationId,displayName,active,externalId",
    noun: "service principal",
    body: |key, display_name| {
        let mut body = json!({
            "schemas": [SERVICE_PRINCIPAL_SCHEMA],
            "applicationId": key,
            "active": true,
        });
        if !display_name.trim().is_empty() {
            body["displayName"] = json!(display_name);
        }
        body
    },
    reactivation_refused: None,
};

fn table(kind: PrincipalKind) -> &'static Table {
    match kind {
        PrincipalKind::User => &USERS,
        PrincipalKind::ServicePrincipal => &SERVICE_PRINCIPALS,
    }
}

/// `body` with `T` the listed type of `kind`: the one place the untyped path picks a type by kind.
macro_rules! by_kind {
    ($kind:expr, $t:ident => $body:expr) => {
        match $kind {
            PrincipalKind::User => {
                type $t = super::ScimUser;
                $body
            }
            PrincipalKind::ServicePrincipal => {
                type $t = super::ScimServicePrincipal;
                $body
            }
        }
    };
}

/// A principal as a workspace lists it.
pub trait Resource: DeserializeOwned + Send + 'static {
    const KIND: PrincipalKind;
    fn id(&self) -> &ScimId;
    /// The `userName` or `applicationId`.
    fn key(&self) -> &str;
    fn active(&self) -> bool;
}

/// The [`Resource`] of a listed type: its kind, and the field that holds its key.
macro_rules! resource {
    ($listed:ty, $kind:ident, $key:ident) => {
        impl Resource for $listed {
            const KIND: PrincipalKind = PrincipalKind::$kind;
            fn id(&self) -> &ScimId {
                &self.id
            }
            fn key(&self) -> &str {
                &self.$key
            }
            fn active(&self) -> bool {
                self.active
            }
        }
    };
}

resource!(super::ScimUser, User, user_name);
resource!(
    super::ScimServicePrincipal,
    ServicePrincipal,
    application_id
);

/// What creating a principal came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The new principal's id.
    New(ScimId),
    /// 409: a principal with this key exists.
    AlreadyExists,
}

/// A principal found by its key: its id and whether it is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: ScimId,
    pub active: bool,
}

impl Found {
    fn of<T: Resource>(resource: T) -> Found {
        Found {
            active: resource.active(),
            id: resource.id().clone(),
        }
    }
}

/// Whether a `roles` list (`[{"value": "account_admin"}, …]`, the Terraform provider's
/// `aws/resource_user_role.go`) holds the account admin role; anything else in it is ignored.
pub(super) fn account_admin<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(serde::Deserialize)]
    struct Role {
        #[serde(default)]
        value: Option<String>,
    }
    let roles: Option<Vec<Role>> = serde::Deserialize::deserialize(d)?;
    Ok(roles
        .unwrap_or_default()
        .iter()
        .any(|r| r.value.as_deref() == Some("account_admin")))
}

/// SCIM's default for an absent `active`.
pub(super) fn active_default() -> bool {
    true
}

/// The principals of one kind in one workspace ([`Scim::principals`]).
pub struct Principals<'a> {
    scim: &'a Scim,
    kind: PrincipalKind,
    table: &'static Table,
}

impl Scim {
    /// The users or the service principals of the workspace.
    pub fn principals(&self, kind: PrincipalKind) -> Principals<'_> {
        Principals {
            scim: self,
            kind,
            table: table(kind),
        }
    }
}

impl Principals<'_> {
    /// Every principal of the kind, each passed through `keep` as its page is read.
    ///
    /// # Errors
    /// The list could not be read to the end; a partial list is never returned.
    pub async fn list<T: Resource>(
        &self,
        requests: &Requests,
        keep: impl Fn(T) -> T,
    ) -> Result<Vec<T>, ScimError> {
        debug_assert_eq!(T::KIND, self.kind);
        let t = self.table;
        let listing = format!("listing {} {}s", self.scim.level.noun(), t.noun);
        // At the account, `roles` too: who is an account admin is never deprovisioned.
        let attributes = match self.scim.level {
            Level::Workspace => t.attributes.to_owned(),
            Level::Account => format!("{},roles", t.attributes),
        };
        self.scim
            .list_all(&listing, t.collection, &attributes, T::id, requests, keep)
            .await
    }

    /// The principal with this key (compared case-insensitively), if any.
    ///
    /// # Errors
    /// The workspace could not be asked.
    pub async fn find_as<T: Resource>(
        &self,
        key: &str,
        requests: &Requests,
    ) -> Result<Option<T>, ScimError> {
        debug_assert_eq!(T::KIND, self.kind);
        let t = self.table;
        let operation = format!("looking up {} {key}", t.noun);
        let filter = format!("{} eq {}", t.key, literal(key));
        let found: Vec<T> = self
            .scim
            .filtered(&operation, t.collection, &filter, t.attributes, requests)
            .await?;
        Ok(found
            .into_iter()
            .find(|resource| resource.key().eq_ignore_ascii_case(key)))
    }

    /// [`Principals::find_as`], for a caller that needs only the id and whether it is active.
    ///
    /// # Errors
    /// The workspace could not be asked.
    pub async fn find(&self, key: &str, requests: &Requests) -> Result<Option<Found>, ScimError> {
        Ok(by_kind!(self.kind, T => self.find_as::<T>(key, requests).await?.map(Found::of)))
    }

    /// Creates an active principal, with `externalId` = its Entra object id when one is given (what
    /// the Entra provisioning connector sets, and what Databricks' automatic identity management links
    /// by). The answer is read as the kind's listed type, of which the id is kept.
    ///
    /// # Errors
    /// Any refusal but 409 (which means it exists).
    pub async fn create(
        &self,
        key: &str,
        display_name: &str,
        external_id: Option<&uuid::Uuid>,
        requests: &Requests,
    ) -> Result<Created, ScimError> {
        let t = self.table;
        let operation = format!("creating {} {key}", t.noun);
        let mut body = (t.body)(key, display_name);
        if let Some(id) = external_id {
            body["externalId"] = json!(id.hyphenated().to_string());
        }
        let answer = match self
            .scim
            .post(&operation, t.collection, &body, requests)
            .await
        {
            Ok(answer) => answer,
            Err(ScimError::Api(e)) if e.status() == Some(409) => return Ok(Created::AlreadyExists),
            Err(e) => return Err(e),
        };
        let id = by_kind!(self.kind, T => http::json::<T>(&operation, answer).await?.id().clone());
        Ok(Created::New(id))
    }

    /// Sets `active`. Accepts 200 with the resource and 204 without.
    ///
    /// # Errors
    /// The workspace refused (a user's reactivation answered 500: [`ScimError::AccountDeactivated`]).
    pub async fn set_active(
        &self,
        id: &str,
        key: &str,
        active: bool,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let t = self.table;
        let verb = if active {
            "reactivating"
        } else {
            "deactivating"
        };
        let operation = format!("{verb} {} {key}", t.noun);
        let url = self.scim.resource_url(t.collection, id);
        match (
            self.patch_active(&operation, &url, active, requests).await,
            t.reactivation_refused
                .filter(|_| self.scim.level == Level::Workspace),
        ) {
            (Err(ScimError::Api(source)), Some(refused)) if active => Err(refused(key, source)),
            (other, _) => other,
        }
    }

    /// PATCHes `active` in Databricks' form ([`replace_active`]). A server that follows RFC 7644 to the
    /// letter (`active` a single boolean) refuses a list with a 400; the same change is then sent once
    /// more as the RFC's bare boolean, so that any SCIM server can be kept in step. If that is refused
    /// too, the first refusal (to the documented form) is the error.
    async fn patch_active(
        &self,
        operation: &str,
        url: &Url,
        active: bool,
        requests: &Requests,
    ) -> Result<(), ScimError> {
        let patch = |operations| self.scim.patch(operation, url, operations, requests);
        match patch(replace_active(active)).await {
            Err(refused) if refused.status() == Some(400) => {
                patch(replace_active_rfc(active)).await.map_err(|_| refused)
            }
            other => other,
        }
    }

    /// Deletes the principal from the workspace. One that is not there (404) counts as deleted.
    ///
    /// # Errors
    /// The workspace refused.
    pub async fn delete(&self, id: &str, key: &str, requests: &Requests) -> Result<(), ScimError> {
        let t = self.table;
        let operation = format!("removing {} {key}", t.noun);
        let url = self.scim.resource_url(t.collection, id);
        self.scim.delete(&operation, &url, requests).await
    }
}

/// The PATCH operations that set `active`, in the form Databricks' own clients send: the value as a
/// list of one `{"value": "true"|"false"}` (the Terraform provider's `PatchRequestWithValue("replace",
/// "active", "false")`, the Databricks knowledge base's reactivation), never a bare JSON boolean, which no
/// Databricks source shows (docs/api-contract.md).
fn replace_active(active: bool) -> Value {
    json!([{ "op": "replace", "path": "active", "value": [{ "value": active.to_string() }] }])
}

/// The same in RFC 7644's form (`active` is a single boolean): only after a 400 to [`replace_active`].
fn replace_active_rfc(active: bool) -> Value {
    json!([{ "op": "replace", "path": "active", "value": active }])
}
