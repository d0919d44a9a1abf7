//! Members of a group, transitive (`/transitiveMembers`, nesting flattened by Graph) or direct
//! (`/members`), cast to one type: users (`microsoft.graph.user`) or service principals
//! (`microsoft.graph.servicePrincipal`). Each listing asks for `$select`, `$top=999` and `$count`, and
//! follows `@odata.nextLink` to the end, only on the configured Graph endpoint (scheme, host and port:
//! a link elsewhere is an error and gets no token); paging that does not end (a repeated link, more pages than any
//! real listing) are errors, never a truncated list. A listing that holds fewer items than its
//! `@odata.count` is read once more; if the two still disagree, the listing is returned with the
//! disagreement ([`Listed::short`]), for the caller to treat as incomplete: Graph serves `$count` from a
//! separate, eventually consistent index (Learn, "Advanced query capabilities"), so a lagging count
//! must not fail every run, and a short listing must never be taken as members who left.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::{Call, Graph, GraphError, Group, Page};
use crate::http::{self, ApiError, Requests};
use crate::principal::{Identity, ObjectId, entra_id};

/// Members as listed, to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<U> {
    pub items: Vec<U>,
    /// Set when `@odata.count` counted more than the pages held, on the first read and on the one read
    /// again (the numbers are the second read's): the listing may lack members.
    pub short: Option<Shortfall>,
}

impl<U> Default for Listed<U> {
    fn default() -> Self {
        Listed {
            items: Vec::new(),
            short: None,
        }
    }
}

/// A listing that held fewer members than Graph counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// `@odata.count` of the listing's first page.
    pub counted: u64,
    /// The members its pages held.
    pub listed: u64,
}

impl Shortfall {
    /// The disagreement of one read, if any. Members who join during the listing can make it longer
    /// than the count: that is no shortfall.
    fn of(counted: Option<u64>, listed: usize) -> Option<Shortfall> {
        let listed = listed as u64;
        counted
            .filter(|&counted| counted > listed)
            .map(|counted| Shortfall { counted, listed })
    }
}

/// Pages one member listing may take before it is cut off as a loop (999 members a page).
const MAX_PAGES: usize = 2_000;
/// Members asked for per page (Graph's maximum `$top`).
const PAGE_SIZE: usize = 999;

/// Room to reserve for a listing whose first page announced `count` items: exactly that, so a large
/// group's list is not grown by doubling (which leaves up to half of it unused for the whole run), but
/// never more than paging could deliver, so a wrong count cannot make the client allocate much.
fn room_for(count: Option<u64>) -> usize {
    count
        .and_then(|c| usize::try_from(c).ok())
        .map_or(0, |c| c.min(MAX_PAGES * PAGE_SIZE))
}
const USER_FIELDS: &str = "id,userPrincipalName,mail,displayName,accountEnabled,userType";
const SERVICE_PRINCIPAL_FIELDS: &str = "id,appId,displayName,accountEnabled";

/// A user member of a group as a page lists it, with the fields that decide its Databricks user name.
/// A run keeps each person once, as a [`Person`] ([`People`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: ObjectId,
    #[serde(default, deserialize_with = "name_text")]
    pub user_principal_name: Option<Box<str>>,
    #[serde(default, deserialize_with = "name_text")]
    pub mail: Option<Box<str>>,
    #[serde(default)]
    pub display_name: Option<Box<str>>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<UserType>,
}

/// The longest `userPrincipalName` or `mail` read (Graph allows 113 and 320 characters): anything
/// longer is a broken answer, and a [`Person`] keeps the lengths in 16 bits.
const MAX_NAME_BYTES: usize = 65_000;

fn name_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<str>>, D::Error> {
    let text = Option::<Box<str>>::deserialize(deserializer)?;
    match text {
        Some(text) if text.len() > MAX_NAME_BYTES => Err(serde::de::Error::custom(format!(
            "a userPrincipalName or mail of {} bytes (at most {MAX_NAME_BYTES})",
            text.len()
        ))),
        text => Ok(text),
    }
}

/// A person as a run keeps it (one per user read, 100,000 in a large tenant): the id, flags, user
/// principal name and mail in one allocation, the display name shared with the desired principals
/// made of it. A clone is a pointer.
#[derive(Clone)]
pub struct Person(triomphe::ThinArc<PersonHeader, u8>);

struct PersonHeader {
    id: ObjectId,
    /// The display name with the object id, shared with the desired principals made of this person.
    identity: Option<Identity>,
    /// Bytes of the user principal name, at the start of the text ([`ABSENT`] when there is none).
    upn: u16,
    /// Bytes of the mail, after the user principal name ([`ABSENT`], or [`SAME`] as the UPN).
    mail: u16,
    account_enabled: Option<bool>,
    user_type: Option<UserType>,
}

const ABSENT: u16 = u16::MAX;
const SAME: u16 = u16::MAX - 1;

impl From<Member> for Person {
    fn from(member: Member) -> Person {
        let upn = member.user_principal_name.as_deref();
        let mail = member.mail.as_deref();
        // Both are at most MAX_NAME_BYTES (the parser's bound); a longer one built by hand is cut.
        let len = |text: &str| u16::try_from(text.len().min(MAX_NAME_BYTES)).unwrap_or(0);
        let upn_bytes = upn.map_or(&b""[..], |t| &t.as_bytes()[..usize::from(len(t))]);
        let (mail_len, mail_bytes) = match mail {
            None => (ABSENT, &b""[..]),
            // Most members' mail is their user principal name: the text is kept once.
            Some(mail) if Some(mail) == upn => (SAME, &b""[..]),
            Some(mail) => (len(mail), &mail.as_bytes()[..usize::from(len(mail))]),
        };
        let header = PersonHeader {
            identity: (member.display_name)
                .map(|display| Identity::new(entra_id(&member.id), &display)),
            id: member.id,
            upn: upn.map_or(ABSENT, len),
            mail: mail_len,
            account_enabled: member.account_enabled,
            user_type: member.user_type,
        };
        let text = Exact {
            bytes: upn_bytes.iter().chain(mail_bytes).copied(),
            left: upn_bytes.len() + mail_bytes.len(),
        };
        Person(triomphe::ThinArc::from_header_and_iter(header, text))
    }
}

/// Two texts one after the other, their length told ahead (what `ThinArc` needs to allocate once).
struct Exact<I> {
    bytes: I,
    left: usize,
}

impl<I: Iterator<Item = u8>> Iterator for Exact<I> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = self.bytes.next()?;
        self.left -= 1;
        Some(byte)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator<Item = u8>> ExactSizeIterator for Exact<I> {}

impl Person {
    fn header(&self) -> &PersonHeader {
        &self.0.header.header
    }

    fn text(&self, from: usize, len: u16) -> Option<&str> {
        let bytes = self.0.slice.get(from..from + usize::from(len))?;
        // Cut only where a whole text ends, so always UTF-8.
        std::str::from_utf8(bytes).ok()
    }

    pub fn id(&self) -> &ObjectId {
        &self.header().id
    }

    pub fn user_principal_name(&self) -> Option<&str> {
        match self.header().upn {
            ABSENT => None,
            len => self.text(0, len),
        }
    }

    pub fn mail(&self) -> Option<&str> {
        let header = self.header();
        match header.mail {
            ABSENT => None,
            SAME => self.user_principal_name(),
            len => self.text(
                if header.upn == ABSENT {
                    0
                } else {
                    usize::from(header.upn)
                },
                len,
            ),
        }
    }

    pub fn display_name(&self) -> Option<&str> {
        self.identity().map(Identity::display_name)
    }

    /// The display name and the object id, if Graph gave a display name.
    pub fn identity(&self) -> Option<&Identity> {
        self.header().identity.as_ref()
    }

    pub fn account_enabled(&self) -> Option<bool> {
        self.header().account_enabled
    }

    pub fn user_type(&self) -> Option<UserType> {
        self.header().user_type
    }

    /// Whether Graph listed this user "with limited information" (only `@odata.type` and `id`, every
    /// other property null), as it does when the app may not read users (no User.Read.All). Every
    /// Entra user has a `userPrincipalName`: a null one means it could not be read, never that there
    /// is none.
    pub fn is_limited(&self) -> bool {
        self.user_principal_name().is_none()
    }
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("id", self.id())
            .field("user_principal_name", &self.user_principal_name())
            .field("mail", &self.mail())
            .field("display_name", &self.display_name())
            .field("account_enabled", &self.account_enabled())
            .field("user_type", &self.user_type())
            .finish()
    }
}

impl PartialEq for Person {
    fn eq(&self, other: &Person) -> bool {
        self.id() == other.id()
            && self.user_principal_name() == other.user_principal_name()
            && self.mail() == other.mail()
            && self.display_name() == other.display_name()
            && self.account_enabled() == other.account_enabled()
            && self.user_type() == other.user_type()
    }
}

impl Eq for Person {}

/// `userType`: only whether the member is a guest matters (guests sign in with their mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Member,
    Guest,
}

impl From<&str> for UserType {
    fn from(text: &str) -> Self {
        if text.eq_ignore_ascii_case("guest") {
            UserType::Guest
        } else {
            UserType::Member
        }
    }
}

impl<'de> Deserialize<'de> for UserType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(UserType::from(text.as_ref()))
    }
}

/// The user members read in one run, each person kept once however many groups (and nesting levels)
/// list them: a group's list is then pointers to shared members.
#[derive(Debug, Default)]
pub struct People {
    known: Mutex<HashSet<Known>>,
}

/// A kept person, found by its id.
#[derive(Debug)]
struct Known(Person);

impl PartialEq for Known {
    fn eq(&self, other: &Self) -> bool {
        self.0.id() == other.0.id()
    }
}

impl Eq for Known {}

impl Hash for Known {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id().hash(state);
    }
}

impl Borrow<ObjectId> for Known {
    fn borrow(&self) -> &ObjectId {
        self.0.id()
    }
}

impl People {
    /// The person kept for this member's id: the first one read in the run.
    pub fn keep(&self, member: Member) -> Person {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = known.get(&member.id) {
            return kept.0.clone();
        }
        let person = Person::from(member);
        known.insert(Known(person.clone()));
        person
    }

    /// Forgets every person (those still used elsewhere live on there).
    pub fn clear(&self) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        *known = HashSet::new();
    }
}

/// A service principal member of a group; its `appId` is the Databricks `applicationId`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalMember {
    /// The Entra object id.
    pub id: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
}

impl ServicePrincipalMember {
    /// Whether Graph listed this service principal "with limited information" (only `@odata.type`
    /// and `id`), as it does when the app may not read service principals (no Application.Read.All).
    /// Every service principal has an `appId`: a null one means it could not be read.
    pub fn is_limited(&self) -> bool {
        self.app_id.is_none()
    }
}

/// Whether `link` (an `@odata.nextLink`) is on the configured Graph endpoint: the same scheme, host
/// and port. Graph never sends another host; a link that does is not followed, so the Graph token
/// goes nowhere else.
///
/// # Errors
/// The link is elsewhere: the message names its origin (scheme, host, port), never its path or query.
fn on_endpoint(endpoint: &Url, link: &Url) -> Result<(), String> {
    if link.origin() == endpoint.origin() {
        return Ok(());
    }
    Err(format!(
        "@odata.nextLink leads to {}, not to the configured Graph endpoint {} (GRAPH_ENDPOINT): it is not \
         followed and no token is sent there",
        link.origin().ascii_serialization(),
        endpoint.origin().ascii_serialization()
    ))
}

impl Graph {
    /// Every user member of the group: through nested groups when `nested`, else direct members only.
    ///
    /// # Errors
    /// Graph could not be read to the end; a partial list is never returned.
    pub async fn user_members(
        &self,
        group: &Group,
        nested: bool,
        requests: &Requests,
        people: &People,
    ) -> Result<Listed<Person>, GraphError> {
        let operation = format!("listing members of group {:?}", group.display_name);
        self.members(
            operation,
            group,
            nested,
            ("microsoft.graph.user", USER_FIELDS),
            requests,
            |member| people.keep(member),
        )
        .await
    }

    /// Every service principal member of the group: through nested groups when `nested`, else direct
    /// members only.
    ///
    /// # Errors
    /// Graph could not be read to the end; a partial list is never returned.
    pub async fn service_principal_members(
        &self,
        group: &Group,
        nested: bool,
        requests: &Requests,
    ) -> Result<Listed<ServicePrincipalMember>, GraphError> {
        let operation = format!(
            "listing service principal members of group {:?}",
            group.display_name
        );
        self.members(
            operation,
            group,
            nested,
            ("microsoft.graph.servicePrincipal", SERVICE_PRINCIPAL_FIELDS),
            requests,
            |member| member,
        )
        .await
    }

    /// The members of one type, `(cast, $select)`, read to the end, each made into what is kept; read a
    /// second time when the pages held fewer than `@odata.count` (never otherwise: no extra request
    /// when they agree).
    async fn members<T: DeserializeOwned + Send + 'static, U>(
        &self,
        operation: String,
        group: &Group,
        nested: bool,
        (cast, fields): (&str, &str),
        requests: &Requests,
        mut keep: impl FnMut(T) -> U,
    ) -> Result<Listed<U>, GraphError> {
        let relation = if nested {
            "transitiveMembers"
        } else {
            "members"
        };
        let mut url = self.url(&["groups", &group.id, relation, cast]);
        url.query_pairs_mut()
            .append_pair("$select", fields)
            .append_pair("$top", &PAGE_SIZE.to_string())
            .append_pair("$count", "true");
        let (items, counted) =
            (self.all_pages(&operation, url.clone(), requests, &mut keep)).await?;
        if Shortfall::of(counted, items.len()).is_none() {
            return Ok(Listed { items, short: None });
        }
        // The first read is let go before the second (a large group's list is megabytes).
        drop(items);
        let (items, counted) = self.all_pages(&operation, url, requests, &mut keep).await?;
        let short = Shortfall::of(counted, items.len());
        Ok(Listed { items, short })
    }

    /// The items of `first` and of every page after it, following `@odata.nextLink` as given (it carries
    /// Graph's own skip token); `ConsistencyLevel` is sent on every page. With the first page's
    /// `@odata.count`, which the caller compares.
    ///
    /// # Errors
    /// A page could not be read, a next link is not a URL or not on the configured endpoint (it is
    /// then not followed), or paging does not end: a partial list is never returned, because
    /// deprovisioning decisions rest on it.
    async fn all_pages<T: DeserializeOwned + Send + 'static, U>(
        &self,
        operation: &str,
        first: Url,
        requests: &Requests,
        mut keep: impl FnMut(T) -> U,
    ) -> Result<(Vec<U>, Option<u64>), GraphError> {
        let protocol = |cause: String| {
            GraphError::Api(ApiError::Protocol {
                operation: operation.to_owned(),
                cause,
            })
        };
        let mut items = Vec::new();
        let mut counted = None;
        let mut seen_links = HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if !seen_links.insert(url.to_string()) {
                return Err(protocol(format!(
                    "paging did not end: @odata.nextLink leads back to a page already read (after {} page(s))",
                    seen_links.len()
                )));
            }
            if seen_links.len() > MAX_PAGES {
                return Err(protocol(format!(
                    "paging did not end after {MAX_PAGES} pages (an endless @odata.nextLink)"
                )));
            }
            let page: Page<T> = {
                // The semaphore is never closed; without a permit the page is read all the same.
                let _reading = self.pages.acquire().await.ok();
                let response = self
                    .get(Call::ListMembers, operation, &url, requests)
                    .await?;
                http::json(operation, response).await?
            };
            counted = counted.or(page.count);
            next = page.next_url().map_err(|e| ApiError::Decode {
                operation: operation.to_owned(),
                cause: format!("@odata.nextLink is not a URL: {e}"),
            })?;
            if let Some(link) = &next {
                on_endpoint(&self.base, link).map_err(protocol)?;
            }
            if items.is_empty() {
                items.reserve_exact(room_for(page.count).max(page.value.len()));
            }
            items.extend(page.value.into_iter().map(&mut keep));
        }
        // A count that was missing or too small left slack from doubling; the list lives for the run.
        items.shrink_to_fit();
        Ok((items, counted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, upn: Option<&str>, mail: Option<&str>) -> Member {
        Member {
            id: id.into(),
            user_principal_name: upn.map(Into::into),
            mail: mail.map(Into::into),
            display_name: Some("Zoë Ångström".into()),
            account_enabled: Some(false),
            user_type: Some(UserType::Guest),
        }
    }

    #[test]
    fn a_person_gives_back_every_field_of_the_member_it_was_made_of() {
        let cases = [
            (Some("ana@contoso.com"), Some("ana@contoso.com")),
            (Some("ana@contoso.com"), Some("Ana.Lopez@contoso.com")),
            (Some("zoë@contoso.com"), Some("ångström@fabrikam.com")),
            (None, Some("ana@contoso.com")),
            (Some("ana@contoso.com"), None),
            (Some(""), Some("")),
            (Some(""), Some("a@b")),
            (None, None),
        ];
        for id in ["2f1c7a8e-5b1d-4c9e-9a57-3f6d2b8e1c40", "not-a-guid"] {
            for (upn, mail) in cases {
                let person = Person::from(member(id, upn, mail));
                assert_eq!(person.id().to_string(), id);
                assert_eq!(person.user_principal_name(), upn, "{upn:?} {mail:?}");
                assert_eq!(person.mail(), mail, "{upn:?} {mail:?}");
                assert_eq!(person.display_name(), Some("Zoë Ångström"));
                assert_eq!(person.account_enabled(), Some(false));
                assert_eq!(person.user_type(), Some(UserType::Guest));
            }
        }
        let bare = Person::from(Member {
            display_name: None,
            account_enabled: None,
            user_type: None,
            ..member("1", None, None)
        });
        assert_eq!(
            (
                bare.display_name(),
                bare.account_enabled(),
                bare.user_type()
            ),
            (None, None, None)
        );
    }

    #[test]
    fn people_keep_the_first_person_read_with_an_id() {
        let people = People::default();
        let first = people.keep(member("1", Some("a@c.com"), None));
        let again = people.keep(member("1", Some("other@c.com"), None));
        assert_eq!(again.user_principal_name(), Some("a@c.com"));
        assert_eq!(first, again);
        people.clear();
        let after = people.keep(member("1", Some("other@c.com"), None));
        assert_eq!(after.user_principal_name(), Some("other@c.com"));
    }

    #[test]
    fn an_implausibly_long_user_principal_name_is_a_broken_page() {
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        let body = format!(r#"{{"value": [{{"id": "1", "userPrincipalName": "{long}@c.com"}}]}}"#);
        let error = serde_json::from_str::<Page<Member>>(&body).unwrap_err();
        assert!(error.to_string().contains("at most 65000"), "{error}");
    }

    #[test]
    fn the_room_reserved_is_the_announced_count_but_never_more_than_paging_can_deliver() {
        assert_eq!(room_for(Some(12_345)), 12_345);
        assert_eq!(room_for(None), 0);
        assert_eq!(room_for(Some(u64::MAX)), MAX_PAGES * PAGE_SIZE);
    }

    #[test]
    fn a_next_link_is_followed_only_on_the_configured_endpoints_scheme_host_and_port() {
        let endpoint = Url::parse("https://graph.microsoft.com/v1.0/").unwrap();
        let link = |text: &str| Url::parse(text).unwrap();
        let next = "https://graph.microsoft.com/v1.0/groups/1/members?$skiptoken=abc";
        assert_eq!(on_endpoint(&endpoint, &link(next)), Ok(()));
        assert_eq!(
            on_endpoint(&endpoint, &link("https://GRAPH.microsoft.com:443/v1.0/x")),
            Ok(()),
            "host case and the default port are the same origin"
        );
        for (elsewhere, named) in [
            (
                "https://graph.microsoft.com.evil.example/v1.0/x?$skiptoken=secret",
                "https://graph.microsoft.com.evil.example",
            ),
            (
                "https://graph.microsoft.com@evil.example/v1.0/x",
                "https://evil.example",
            ),
            (
                "http://graph.microsoft.com/v1.0/x",
                "http://graph.microsoft.com",
            ),
            (
                "https://graph.microsoft.com:8443/v1.0/x",
                "https://graph.microsoft.com:8443",
            ),
            (
                "https://graph.microsoft.us/v1.0/x",
                "https://graph.microsoft.us",
            ),
        ] {
            let error = on_endpoint(&endpoint, &link(elsewhere)).unwrap_err();
            assert!(
                error.starts_with(&format!("@odata.nextLink leads to {named}, not to")),
                "{error}"
            );
            assert!(
                error.contains("https://graph.microsoft.com (GRAPH_ENDPOINT)"),
                "{error}"
            );
            assert!(
                !error.contains("skiptoken") && !error.contains("/v1.0"),
                "{error}"
            );
        }
        let national = Url::parse("https://graph.microsoft.us/v1.0/").unwrap();
        assert_eq!(
            on_endpoint(&national, &link("https://graph.microsoft.us/v1.0/x")),
            Ok(())
        );
    }

    #[test]
    fn members_graph_lists_with_limited_information_are_told_apart() {
        // As Learn documents it: only `@odata.type` and `id`, every other property null.
        let body = br##"{"value": [
            {"@odata.type": "#microsoft.graph.user", "id": "1", "userPrincipalName": null, "mail": null,
             "displayName": null, "accountEnabled": null, "userType": null},
            {"id": "2", "userPrincipalName": "ana@contoso.com", "mail": null}
        ]}"##;
        let users: Page<Member> = serde_json::from_slice(body).unwrap();
        let limited: Vec<bool> = (users.value.into_iter())
            .map(|m| Person::from(m).is_limited())
            .collect();
        assert_eq!(limited, [true, false]);
        let body = br##"{"value": [
            {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "3", "appId": null,
             "displayName": null, "accountEnabled": null},
            {"id": "4", "appId": "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a"}
        ]}"##;
        let apps: Page<ServicePrincipalMember> = serde_json::from_slice(body).unwrap();
        let limited: Vec<bool> = apps.value.iter().map(|m| m.is_limited()).collect();
        assert_eq!(limited, [true, false]);
    }

    #[test]
    fn only_a_listing_shorter_than_its_count_falls_short() {
        assert_eq!(Shortfall::of(None, 3), None);
        assert_eq!(Shortfall::of(Some(3), 3), None);
        assert_eq!(
            Shortfall::of(Some(2), 3),
            None,
            "members who joined while it was read"
        );
        assert_eq!(
            Shortfall::of(Some(5), 3),
            Some(Shortfall {
                counted: 5,
                listed: 3
            })
        );
    }

    #[test]
    fn the_first_page_count_is_read_and_later_pages_have_none() {
        let first: Page<serde_json::Value> =
            serde_json::from_str(r#"{"@odata.count": 1500, "value": [{"id": "1"}], "@odata.nextLink": "https://x/next"}"#)
                .unwrap();
        let later: Page<serde_json::Value> = serde_json::from_str(r#"{"value": []}"#).unwrap();
        assert_eq!((first.count, later.count), (Some(1500), None));
    }
}
