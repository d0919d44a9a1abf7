//! Who should be in a workspace: the members of its Entra groups, turned into Databricks user names by
//! the workspace's options, and (with `includeServicePrincipals`) its service principal members, keyed
//! by application id. Pure; every member left out is said, with the reason.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{SyncOptions, UserNameSource};
use crate::entra::{Person, ServicePrincipalMember, UserType};
pub use crate::principal::{AppId, EntraId, Identity, Principal, UserName, entra_id};

/// A user the workspace should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser {
    pub user_name: UserName,
    /// The display name (the user name when Graph gave none) and the member's Entra object id.
    pub identity: Identity,
    /// Where its member came in the listing (which member a shared name goes to, and the report's order).
    at: u32,
}

/// Every desired principal of a workspace with its display name and Entra object id, sorted (users,
/// then service principals) and each once: what the plan reads. A vector, 32 bytes a principal, made
/// in place of the desired users (a first sync holds one per principal of every workspace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals(Vec<(Principal, Identity)>);

impl Principals {
    pub fn contains_key(&self, key: &Principal) -> bool {
        self.0.binary_search_by(|(k, ..)| k.cmp(key)).is_ok()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Principal> {
        self.0.iter().map(|(key, ..)| key)
    }

    /// Every principal with its identity, giving the list up.
    pub fn into_entries(self) -> impl Iterator<Item = (Principal, Identity)> {
        self.0.into_iter()
    }

    pub fn into_keys(self) -> impl Iterator<Item = Principal> {
        self.0.into_iter().map(|(key, ..)| key)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

type Entry<'a> = (&'a Principal, &'a Identity);

impl<'a> IntoIterator for &'a Principals {
    type Item = Entry<'a>;
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Principal, Identity)>,
        fn(&'a (Principal, Identity)) -> Entry<'a>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(key, identity)| (key, identity))
    }
}

impl Principals {
    /// Takes `other`'s principals in, each once (both lists are sorted). Of a principal in both, the
    /// identity with the smaller Entra object id (then display name) is kept, so the result is the same
    /// whatever order lists come in: the account's part takes each workspace's list in as soon as it
    /// is made, holding the merged list and one more, where collecting every list first held each
    /// principal once per workspace (288,000 entries for 96,000 principals at 100,000 users).
    pub fn absorb(&mut self, other: Principals) {
        if other.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            *self = other;
            return;
        }
        let mine = std::mem::take(&mut self.0);
        let mut merged = Vec::with_capacity(mine.len().max(other.0.len()));
        let mut mine = mine.into_iter().peekable();
        let mut theirs = other.0.into_iter().peekable();
        loop {
            let order = match (mine.peek(), theirs.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.0.cmp(&b.0),
            };
            let next = match order {
                Ordering::Less => mine.next(),
                Ordering::Greater => theirs.next(),
                Ordering::Equal => match (mine.next(), theirs.next()) {
                    (Some(a), Some(b)) => Some(if identity_order(&b.1, &a.1).is_lt() {
                        b
                    } else {
                        a
                    }),
                    (a, b) => a.or(b),
                },
            };
            merged.extend(next);
        }
        merged.shrink_to_fit();
        self.0 = merged;
    }
}

/// The order of two identities of one principal: by Entra object id, then display name.
fn identity_order(a: &Identity, b: &Identity) -> Ordering {
    (a.id(), a.display_name()).cmp(&(b.id(), b.display_name()))
}

/// Sorted, and the first identity of a principal listed twice kept.
impl FromIterator<(Principal, Identity)> for Principals {
    fn from_iter<I: IntoIterator<Item = (Principal, Identity)>>(iter: I) -> Self {
        let mut all: Vec<_> = iter.into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.dedup_by(|later, first| later.0 == first.0);
        Principals(all)
    }
}

/// The user names of one run, each text kept once: a name is in the desired principals of several
/// workspaces, in their listings, actions and marker lists.
#[derive(Debug, Default)]
pub struct Names {
    known: Mutex<HashSet<Arc<str>>>,
}

impl Names {
    /// The user name `raw` stands for, shared, or `None` (see [`UserName::parse`]).
    pub fn user_name(&self, raw: &str) -> Option<UserName> {
        let name = UserName::normalize(raw)?;
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = known.get(name.as_ref()).cloned().unwrap_or_else(|| {
            let kept: Arc<str> = Arc::from(name.as_ref());
            known.insert(Arc::clone(&kept));
            kept
        });
        Some(UserName::normalized(kept))
    }

    /// `text` shared with an equal text seen before (kept from now on if it is new).
    pub fn share(&self, text: &Arc<str>) -> Arc<str> {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = known.get(text) {
            return Arc::clone(kept);
        }
        known.insert(Arc::clone(text));
        Arc::clone(text)
    }
}

/// Why a member listed with limited information is skipped.
const LIMITED_USER: &str = "has no userPrincipalName: Microsoft Graph listed it with limited information \
     (only its id), which it does when the app lacks the application permission User.Read.All";

/// The configured groups of a workspace whose members Graph listed "with limited information": only
/// `@odata.type` and `id`, every other property null (Learn, group `members` and `transitiveMembers`).
/// Graph does so for members whose type the app may not read: users without User.Read.All, service
/// principals without Application.Read.All. Such a listing is incomplete, never a sign that members
/// left: with any such group, nothing in the workspace may be removed (the plan holds it,
/// [`crate::sync::plan::Policy::hold_removals`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incomplete {
    /// `(group, users, service principals)` listed with limited information, groups with none left out.
    groups: Vec<(String, usize, usize)>,
}

impl Incomplete {
    /// Records one configured group's members listed with limited information (nothing when none).
    pub fn add(&mut self, group: &str, users: usize, service_principals: usize) {
        if users + service_principals > 0 {
            self.groups
                .push((group.to_owned(), users, service_principals));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Why no removal may be made in the workspace, naming each missing permission and the groups where
    /// its absence showed, with counts; `None` when every read was complete.
    pub fn reason(&self) -> Option<String> {
        let part = |kind: &str, permission: &str, count: fn(&(String, usize, usize)) -> usize| {
            let groups: Vec<String> = (self.groups.iter())
                .filter(|g| count(g) > 0)
                .map(|g| format!("{:?} ({})", g.0, count(g)))
                .collect();
            let total: usize = self.groups.iter().map(count).sum();
            (total > 0).then(|| {
                format!(
                    "Microsoft Graph listed {total} {kind} member(s) with limited information (only their id) in \
                     group(s) {}: grant the app the Graph application permission {permission}",
                    groups.join(", ")
                )
            })
        };
        let parts: Vec<String> = [
            part("user", "User.Read.All", |g| g.1),
            part("service principal", "Application.Read.All", |g| g.2),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "incomplete read of the Entra groups: {}; until then nobody is deprovisioned, removed from a group \
                 or changed in entitlements in this workspace (the changes are held, reported skipped); additions \
                 of the members that could be read go ahead",
                parts.join("; ")
            )
        })
    }
}

/// A member who does not become a user, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The member's UPN, else its object id.
    pub member: String,
    pub reason: String,
}

/// The desired users, sorted by user name, each name once; the desired service principals (display
/// names and Entra object ids by application id); and the members left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub users: Vec<DesiredUser>,
    pub service_principals: BTreeMap<AppId, Identity>,
    pub skipped: Vec<Skipped>,
}

impl Desired {
    /// Whether `key` is desired.
    pub fn contains(&self, key: &Principal) -> bool {
        match key {
            Principal::User(name) => self
                .users
                .binary_search_by(|u| u.user_name.cmp(name))
                .is_ok(),
            Principal::ServicePrincipal(id) => self.service_principals.contains_key(id),
        }
    }

    /// Every desired principal with its display name, giving up the lists by kind: the users' list
    /// becomes the principals' in place (a copy would double what a large workspace holds).
    pub fn into_principals(self) -> Principals {
        let mut all: Vec<(Principal, Identity)> = (self.users.into_iter())
            .map(|u| (Principal::User(u.user_name), u.identity))
            .collect();
        // Users come before service principals in `Principal`'s order: the whole stays sorted.
        all.extend(
            (self.service_principals.into_iter())
                .map(|(id, identity)| (Principal::ServicePrincipal(id), identity)),
        );
        Principals(all)
    }

    /// Adds service principal members (possibly repeated across groups); disabled ones are skipped
    /// unless `includeDisabled`.
    pub fn add_service_principals<'a>(
        &mut self,
        members: impl IntoIterator<Item = &'a ServicePrincipalMember>,
        options: &SyncOptions,
    ) {
        let mut seen_ids = HashSet::new();
        for member in members {
            if !seen_ids.insert(member.id.as_str()) {
                continue;
            }
            let label = member
                .display_name
                .clone()
                .filter(|d| !d.trim().is_empty())
                .map_or_else(|| member.id.clone(), |d| format!("{d} ({})", member.id));
            let Some(app_id) = member.app_id.as_deref().and_then(AppId::parse) else {
                let reason = match &member.app_id {
                    None => {
                        "service principal has no appId (reading it needs the Graph application \
                             permission Application.Read.All)"
                            .to_owned()
                    }
                    Some(raw) => format!("service principal appId {raw:?} is not a GUID"),
                };
                self.skipped.push(Skipped {
                    member: label,
                    reason,
                });
                continue;
            };
            if self.service_principals.contains_key(&app_id) {
                continue;
            }
            if member.account_enabled == Some(false) && !options.include_disabled {
                self.skipped.push(Skipped {
                    member: label,
                    reason: "service principal is disabled in Entra ID".to_owned(),
                });
                continue;
            }
            let display_name = member
                .display_name
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or(app_id.as_str());
            let object_id = EntraId::try_parse(&member.id).unwrap_or_default();
            let identity = Identity::new(object_id, display_name);
            self.service_principals.insert(app_id, identity);
        }
    }
}

fn is_guest(member: &Person) -> bool {
    member.user_type() == Some(UserType::Guest)
        || member
            .user_principal_name()
            .is_some_and(|upn| upn.to_ascii_uppercase().contains("#EXT#"))
}

/// Why a member makes no user, in the words the report gives (`actions`, `skipMember`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NoUser {
    #[error("{}", LIMITED_USER)]
    Limited,
    #[error("account is disabled in Entra ID")]
    Disabled,
    #[error("has no {attribute}")]
    NoName { attribute: &'static str },
    #[error("its {attribute} {raw:?} is not a usable user name")]
    Unusable {
        attribute: &'static str,
        raw: String,
    },
}

/// The name this member signs in with, or why there is none.
fn user_name(member: &Person, source: UserNameSource, names: &Names) -> Result<UserName, NoUser> {
    let (attribute, value) = match source {
        UserNameSource::Upn => ("userPrincipalName", member.user_principal_name()),
        UserNameSource::Mail => ("mail", member.mail()),
        UserNameSource::Auto if is_guest(member) => {
            ("mail (guests sign in with it)", member.mail())
        }
        UserNameSource::Auto => ("userPrincipalName", member.user_principal_name()),
    };
    match value {
        None => Err(NoUser::NoName { attribute }),
        Some(raw) => names.user_name(raw).ok_or_else(|| NoUser::Unusable {
            attribute,
            raw: raw.to_owned(),
        }),
    }
}

/// How a member is named in the report: its UPN, else its object id.
fn label(member: &Person) -> String {
    member
        .user_principal_name()
        .map_or_else(|| member.id().to_string(), str::to_owned)
}

/// Turns group members (possibly repeated across groups) into desired users.
pub fn desired_users<'a>(
    members: impl IntoIterator<Item = &'a Person>,
    options: &SyncOptions,
) -> Desired {
    desired_users_in(members, options, &Names::default())
}

/// As [`desired_users`], the user names shared through `names` (those of the run).
pub fn desired_users_in<'a>(
    members: impl IntoIterator<Item = &'a Person>,
    options: &SyncOptions,
    names: &Names,
) -> Desired {
    let mut desired = Desired::default();
    // Every member once, in the order listed: a user's `at` is its place here.
    let order = listed_once(members);
    // Room for every member at once (nearly all become users): grown by doubling, the list would
    // hold up to twice what it needs while the largest workspace's principals are made.
    desired.users.reserve_exact(order.len());
    let mut skipped: Vec<(usize, Skipped)> = Vec::new();
    for (at, &member) in order.iter().enumerate() {
        match desired_user(member, at, options, names) {
            Ok(user) => desired.users.push(user),
            Err(reason) => skipped.push((at, skip(member, reason.to_string()))),
        }
    }
    first_of_each_name(&mut desired.users, &order, &mut skipped);
    desired.users.shrink_to_fit();
    // In the order the members were listed, whatever the reason.
    skipped.sort_by_key(|(at, _)| *at);
    desired.skipped = skipped.into_iter().map(|(_, skipped)| skipped).collect();
    desired
}

/// Each member once (by object id), in the order first listed.
fn listed_once<'a>(members: impl IntoIterator<Item = &'a Person>) -> Vec<&'a Person> {
    let mut seen_ids = HashSet::new();
    (members.into_iter())
        .filter(|member| seen_ids.insert(member.id()))
        .collect()
}

fn skip(member: &Person, reason: String) -> Skipped {
    Skipped {
        member: label(member),
        reason,
    }
}

/// The user one member makes, listed `at` this place, or why it makes none.
fn desired_user(
    member: &Person,
    at: usize,
    options: &SyncOptions,
    names: &Names,
) -> Result<DesiredUser, NoUser> {
    if member.is_limited() {
        return Err(NoUser::Limited);
    }
    // An absent accountEnabled is treated as enabled: Graph omits it only without User.Read.All.
    if member.account_enabled() == Some(false) && !options.include_disabled {
        return Err(NoUser::Disabled);
    }
    let name = user_name(member, options.user_name, names)?;
    // The person's own identity, shared by every workspace that wants it; one of this workspace's
    // making only when Graph gave no display name.
    let identity = (member.identity())
        .filter(|identity| !identity.display_name().trim().is_empty())
        .map_or_else(
            || Identity::new(entra_id(member.id()), name.as_str()),
            Identity::clone,
        );
    Ok(DesiredUser {
        user_name: name,
        identity,
        at: u32::try_from(at).unwrap_or(u32::MAX),
    })
}

/// Keeps, of the users that share a name, the first member listed; the others are skipped. Sorted by
/// name, then by place: sorting needs no map of names, which would cost as much again as the list.
fn first_of_each_name(
    users: &mut Vec<DesiredUser>,
    order: &[&Person],
    skipped: &mut Vec<(usize, Skipped)>,
) {
    let at = |user: &DesiredUser| usize::try_from(user.at).unwrap_or(usize::MAX);
    let member = |user: &DesiredUser| order.get(at(user)).map_or_else(String::new, |m| label(m));
    users.sort_unstable_by(|a, b| (&a.user_name, a.at).cmp(&(&b.user_name, b.at)));
    users.dedup_by(|later, first| {
        let taken = later.user_name == first.user_name;
        if taken {
            let reason = format!(
                "user name {} is already taken by member {}",
                later.user_name,
                member(first)
            );
            skipped.push((
                at(later),
                Skipped {
                    member: member(later),
                    reason,
                },
            ));
        }
        taken
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::Member;

    fn member(
        id: &str,
        upn: Option<&str>,
        mail: Option<&str>,
        enabled: Option<bool>,
        guest: bool,
    ) -> Person {
        Person::from(Member {
            id: id.into(),
            user_principal_name: upn.map(Into::into),
            mail: mail.map(Into::into),
            display_name: Some(format!("User {id}").into()),
            account_enabled: enabled,
            user_type: Some(if guest { "Guest" } else { "Member" }.into()),
        })
    }

    fn names(desired: &Desired) -> Vec<&str> {
        desired.users.iter().map(|u| u.user_name.as_str()).collect()
    }

    #[test]
    fn members_become_lower_cased_upns_and_guests_their_mail() {
        let members = [
            member(
                "1",
                Some("Ana@Contoso.com"),
                Some("ana@contoso.com"),
                Some(true),
                false,
            ),
            member(
                "2",
                Some("bo_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
                Some("Bo@Fabrikam.com"),
                Some(true),
                true,
            ),
        ];
        let desired = desired_users(&members, &SyncOptions::default());
        assert_eq!(names(&desired), ["ana@contoso.com", "bo@fabrikam.com"]);
        assert!(desired.skipped.is_empty());
    }

    #[test]
    fn disabled_accounts_are_skipped_unless_included() {
        let members = [member("1", Some("a@c.com"), None, Some(false), false)];
        let desired = desired_users(&members, &SyncOptions::default());
        assert!(desired.users.is_empty());
        assert_eq!(
            desired.skipped,
            [Skipped {
                member: "a@c.com".into(),
                reason: "account is disabled in Entra ID".into()
            }]
        );
        let options = SyncOptions {
            include_disabled: true,
            ..SyncOptions::default()
        };
        assert_eq!(names(&desired_users(&members, &options)), ["a@c.com"]);
    }

    #[test]
    fn members_without_a_usable_name_are_skipped_with_the_reason() {
        let members = [
            member(
                "g1",
                Some("x_f.com#EXT#@c.onmicrosoft.com"),
                None,
                Some(true),
                true,
            ),
            member("m1", None, Some("m@c.com"), Some(true), false),
            member("m2", Some("not a name"), None, Some(true), false),
        ];
        let desired = desired_users(&members, &SyncOptions::default());
        assert!(desired.users.is_empty());
        let reasons: Vec<&str> = desired.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "has no mail (guests sign in with it)",
                LIMITED_USER,
                "its userPrincipalName \"not a name\" is not a usable user name",
            ]
        );
        assert_eq!(desired.skipped[1].member, "m1");
    }

    #[test]
    fn user_name_option_forces_upn_or_mail() {
        // (upn, mail, guest, the option, the name made)
        let cases = [
            (
                "ana@contoso.com",
                "ana.smith@contoso.com",
                false,
                UserNameSource::Mail,
                "ana.smith@contoso.com",
            ),
            (
                "g_f.com#EXT#@c.onmicrosoft.com",
                "g@f.com",
                true,
                UserNameSource::Upn,
                "g_f.com#ext#@c.onmicrosoft.com",
            ),
        ];
        for (upn, mail, guest, source, expected) in cases {
            let members = [member("1", Some(upn), Some(mail), Some(true), guest)];
            let options = SyncOptions {
                user_name: source,
                ..SyncOptions::default()
            };
            assert_eq!(names(&desired_users(&members, &options)), [expected]);
        }
    }

    #[test]
    fn a_member_in_several_groups_counts_once_and_a_name_clash_is_skipped() {
        let a = member("1", Some("ana@contoso.com"), None, Some(true), false);
        let clash = member(
            "2",
            Some("g_x.com#EXT#@contoso.onmicrosoft.com"),
            Some("ANA@contoso.com"),
            Some(true),
            true,
        );
        let desired = desired_users([&a, &a, &clash], &SyncOptions::default());
        assert_eq!(names(&desired), ["ana@contoso.com"]);
        assert_eq!(desired.skipped.len(), 1);
        assert_eq!(
            desired.skipped[0].reason,
            "user name ana@contoso.com is already taken by member ana@contoso.com"
        );
    }

    #[test]
    fn a_name_goes_to_the_first_member_listed_with_it_and_skips_keep_the_listing_order() {
        let members = [
            member("1", Some("zoe@c.com"), None, Some(true), false),
            member("2", Some("bo@c.com"), None, Some(false), false),
            member("3", Some("ZOE@c.com"), None, Some(true), false),
            member("4", Some("ana@c.com"), None, Some(true), false),
            member("5", None, None, Some(true), false),
            member("6", Some("Zoe@C.com"), None, Some(true), false),
        ];
        let desired = desired_users(&members, &SyncOptions::default());
        assert_eq!(names(&desired), ["ana@c.com", "zoe@c.com"]);
        assert_eq!(desired.users[1].identity.display_name(), "User 1");
        let skipped: Vec<(&str, &str)> = (desired.skipped.iter())
            .map(|s| (s.member.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("bo@c.com", "account is disabled in Entra ID"),
                (
                    "ZOE@c.com",
                    "user name zoe@c.com is already taken by member zoe@c.com"
                ),
                ("5", LIMITED_USER),
                (
                    "Zoe@C.com",
                    "user name zoe@c.com is already taken by member zoe@c.com"
                ),
            ]
        );
    }

    #[test]
    fn absorbed_lists_are_sorted_each_principal_once_whatever_their_order() {
        let user = |n: &str| Principal::User(UserName::parse(n).unwrap());
        let sp = Principal::ServicePrincipal(
            AppId::parse("0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a").unwrap(),
        );
        let id = |n: u128| EntraId::from_u128(n);
        let list = |entries: &[(&Principal, u128, &str)]| -> Principals {
            (entries.iter())
                .map(|(k, n, d)| ((*k).clone(), Identity::new(id(*n), d)))
                .collect()
        };
        let (ana, bo, cy, zoe) = (
            user("ana@c.com"),
            user("bo@c.com"),
            user("cy@c.com"),
            user("zoe@c.com"),
        );
        let lists = || {
            [
                list(&[(&bo, 2, "bo"), (&zoe, 9, "zoe from the first")]),
                list(&[]),
                list(&[(&ana, 1, "ana"), (&bo, 2, "bo"), (&sp, 5, "sp")]),
                list(&[
                    (&cy, 3, "cy"),
                    (&zoe, 4, "zoe from the last"),
                    (&sp, 5, "sp"),
                ]),
            ]
        };
        let absorbed = |order: [usize; 4]| {
            let mut lists = lists().map(Some);
            let mut all = Principals::default();
            for at in order {
                all.absorb(lists[at].take().unwrap_or_default());
            }
            all
        };
        let shown: Vec<(String, String)> = (&absorbed([0, 1, 2, 3]))
            .into_iter()
            .map(|(k, i)| (k.to_string(), i.display_name().to_owned()))
            .collect();
        assert_eq!(
            shown,
            [
                ("ana@c.com", "ana"),
                ("bo@c.com", "bo"),
                ("cy@c.com", "cy"),
                ("zoe@c.com", "zoe from the last"),
                ("0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a", "sp"),
            ]
            .map(|(k, d)| (k.to_owned(), d.to_owned())),
            "of two identities of one principal, the smaller Entra object id is kept"
        );
        for order in [[3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
            assert_eq!(absorbed(order), absorbed([0, 1, 2, 3]), "{order:?}");
        }
    }

    #[test]
    fn principals_are_sorted_users_first_and_found_by_key() {
        let mut desired = desired_users(
            &[
                member("1", Some("zoe@c.com"), None, Some(true), false),
                member("2", Some("ana@c.com"), None, Some(true), false),
            ],
            &SyncOptions::default(),
        );
        let app = "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a";
        desired.add_service_principals(
            &[service_principal("o1", Some(app), Some(true))],
            &SyncOptions::default(),
        );
        let user = |n: &str| Principal::User(UserName::parse(n).unwrap());
        let sp = Principal::ServicePrincipal(AppId::parse(app).unwrap());
        assert!(desired.contains(&user("zoe@c.com")) && desired.contains(&sp));
        assert!(!desired.contains(&user("bo@c.com")));
        let principals = desired.into_principals();
        let keys: Vec<&Principal> = principals.keys().collect();
        assert_eq!(keys, [&user("ana@c.com"), &user("zoe@c.com"), &sp]);
        assert!(principals.contains_key(&sp) && principals.contains_key(&user("ana@c.com")));
        assert!(!principals.contains_key(&user("bo@c.com")));
        let made: Principals = [
            (sp.clone(), Identity::new(EntraId::nil(), "b")),
            (user("x@c.com"), Identity::new(EntraId::nil(), "x")),
            (sp.clone(), Identity::new(EntraId::nil(), "c")),
        ]
        .into_iter()
        .collect();
        let made: Vec<(&Principal, &str)> = made
            .into_iter()
            .map(|(k, d)| (k, d.display_name()))
            .collect();
        assert_eq!(made, [(&user("x@c.com"), "x"), (&sp, "b")]);
    }

    #[test]
    fn an_incomplete_read_names_each_missing_permission_and_its_groups_with_counts() {
        let mut incomplete = Incomplete::default();
        assert_eq!((incomplete.is_empty(), incomplete.reason()), (true, None));
        incomplete.add("Complete", 0, 0);
        assert!(incomplete.is_empty());
        incomplete.add("Engineers", 3, 0);
        incomplete.add("Apps", 0, 1);
        incomplete.add("Mixed", 2, 4);
        let reason = incomplete.reason().unwrap();
        assert!(
            reason.starts_with(
                "incomplete read of the Entra groups: Microsoft Graph listed 5 user member(s) with limited \
                 information (only their id) in group(s) \"Engineers\" (3), \"Mixed\" (2): grant the app the \
                 Graph application permission User.Read.All; Microsoft Graph listed 5 service principal member(s) \
                 with limited information (only their id) in group(s) \"Apps\" (1), \"Mixed\" (4): grant the app \
                 the Graph application permission Application.Read.All; until then nobody is deprovisioned"
            ),
            "{reason}"
        );
        assert!(!reason.contains("Complete"), "{reason}");
        let mut users_only = Incomplete::default();
        users_only.add("Engineers", 1, 0);
        assert!(
            !users_only
                .reason()
                .unwrap()
                .contains("Application.Read.All")
        );
    }

    fn service_principal(
        id: &str,
        app_id: Option<&str>,
        enabled: Option<bool>,
    ) -> ServicePrincipalMember {
        ServicePrincipalMember {
            id: id.into(),
            app_id: app_id.map(Into::into),
            display_name: Some(format!("App {id}")),
            account_enabled: enabled,
        }
    }

    #[test]
    fn service_principals_are_keyed_by_lower_cased_app_id_and_disabled_or_broken_ones_are_skipped()
    {
        let app = "0B7C7F3E-8A4E-4C2A-9D7E-1F0E2D3C4B5A";
        let members = [
            service_principal("o1", Some(app), Some(true)),
            service_principal("o1", Some(app), Some(true)),
            service_principal(
                "o2",
                Some("1c8d8a4f-9b5f-4d3b-8e8f-2a1f3e4d5c6b"),
                Some(false),
            ),
            service_principal("o3", None, None),
            service_principal("o4", Some("not-a-guid"), None),
        ];
        let mut desired = Desired::default();
        desired.add_service_principals(&members, &SyncOptions::default());
        let ids: Vec<&str> = desired
            .service_principals
            .keys()
            .map(AppId::as_str)
            .collect();
        assert_eq!(ids, ["0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a"]);
        assert_eq!(
            desired.service_principals[&AppId::parse(app).unwrap()].display_name(),
            "App o1"
        );
        let reasons: Vec<(&str, &str)> = desired
            .skipped
            .iter()
            .map(|s| (s.member.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("App o2 (o2)", "service principal is disabled in Entra ID"),
                (
                    "App o3 (o3)",
                    "service principal has no appId (reading it needs the Graph application permission \
                     Application.Read.All)"
                ),
                (
                    "App o4 (o4)",
                    "service principal appId \"not-a-guid\" is not a GUID"
                ),
            ]
        );
        let options = SyncOptions {
            include_disabled: true,
            ..SyncOptions::default()
        };
        let mut desired = Desired::default();
        desired.add_service_principals(&members, &options);
        assert_eq!(desired.service_principals.len(), 2);
        assert_eq!(desired.into_principals().len(), 2);
    }
}
