//! Who should be a user of a workspace: the members of its Entra groups, turned into Databricks user
//! names by the workspace's options. Pure; every member left out is said, with the reason.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::config::{SyncOptions, UserNameSource};
use crate::entra::Member;

/// A Databricks user name: lower case, as Databricks stores it, so names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UserName(String);

impl UserName {
    /// `None` for a value that cannot be a sign-in name (empty, spaces, no `@`).
    pub fn parse(raw: &str) -> Option<UserName> {
        let name = raw.trim().to_lowercase();
        let valid = !name.is_empty()
            && !name.chars().any(char::is_whitespace)
            && name
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        valid.then_some(UserName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user the workspace should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser {
    pub user_name: UserName,
    pub display_name: String,
}

/// A member who does not become a user, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The member's UPN, else its object id.
    pub member: String,
    pub reason: String,
}

/// The desired users, by user name, and the members left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub users: BTreeMap<UserName, DesiredUser>,
    pub skipped: Vec<Skipped>,
}

fn is_guest(member: &Member) -> bool {
    member
        .user_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
        || member
            .user_principal_name
            .as_deref()
            .is_some_and(|upn| upn.to_ascii_uppercase().contains("#EXT#"))
}

/// The name this member signs in with, or why there is none.
fn user_name(member: &Member, source: UserNameSource) -> Result<UserName, String> {
    let (attribute, value) = match source {
        UserNameSource::Upn => ("userPrincipalName", member.user_principal_name.as_deref()),
        UserNameSource::Mail => ("mail", member.mail.as_deref()),
        UserNameSource::Auto if is_guest(member) => {
            ("mail (guests sign in with it)", member.mail.as_deref())
        }
        UserNameSource::Auto => ("userPrincipalName", member.user_principal_name.as_deref()),
    };
    match value {
        None => Err(format!("has no {attribute}")),
        Some(raw) => UserName::parse(raw)
            .ok_or_else(|| format!("its {attribute} {raw:?} is not a usable user name")),
    }
}

/// Turns group members (possibly repeated across groups) into desired users.
pub fn desired_users<'a>(
    members: impl IntoIterator<Item = &'a Member>,
    options: &SyncOptions,
) -> Desired {
    let mut desired = Desired::default();
    let mut seen_ids = HashSet::new();
    let mut owner: BTreeMap<UserName, String> = BTreeMap::new();
    for member in members {
        if !seen_ids.insert(member.id.as_str()) {
            continue;
        }
        let label = member
            .user_principal_name
            .clone()
            .unwrap_or_else(|| member.id.clone());
        let mut skip = |reason: String| {
            desired.skipped.push(Skipped {
                member: label.clone(),
                reason,
            })
        };
        // An absent accountEnabled is treated as enabled: Graph omits it only without User.Read.All.
        if member.account_enabled == Some(false) && !options.include_disabled {
            skip("account is disabled in Entra ID".to_owned());
            continue;
        }
        let name = match user_name(member, options.user_name) {
            Ok(name) => name,
            Err(reason) => {
                skip(reason);
                continue;
            }
        };
        if let Some(first) = owner.get(&name) {
            skip(format!(
                "user name {name} is already taken by member {first}"
            ));
            continue;
        }
        owner.insert(name.clone(), label.clone());
        let display_name = member
            .display_name
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.to_string());
        desired.users.insert(
            name.clone(),
            DesiredUser {
                user_name: name,
                display_name,
            },
        );
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(
        id: &str,
        upn: Option<&str>,
        mail: Option<&str>,
        enabled: Option<bool>,
        guest: bool,
    ) -> Member {
        Member {
            id: id.into(),
            user_principal_name: upn.map(Into::into),
            mail: mail.map(Into::into),
            display_name: Some(format!("User {id}")),
            account_enabled: enabled,
            user_type: Some(if guest { "Guest" } else { "Member" }.into()),
        }
    }

    fn names(desired: &Desired) -> Vec<&str> {
        desired.users.keys().map(UserName::as_str).collect()
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
                "has no userPrincipalName",
                "its userPrincipalName \"not a name\" is not a usable user name",
            ]
        );
        assert_eq!(desired.skipped[1].member, "m1");
    }

    #[test]
    fn user_name_option_forces_upn_or_mail() {
        let members = [member(
            "1",
            Some("ana@contoso.com"),
            Some("ana.smith@contoso.com"),
            Some(true),
            false,
        )];
        let mail = SyncOptions {
            user_name: UserNameSource::Mail,
            ..SyncOptions::default()
        };
        assert_eq!(
            names(&desired_users(&members, &mail)),
            ["ana.smith@contoso.com"]
        );
        let guest = [member(
            "2",
            Some("g_f.com#EXT#@c.onmicrosoft.com"),
            Some("g@f.com"),
            Some(true),
            true,
        )];
        let upn = SyncOptions {
            user_name: UserNameSource::Upn,
            ..SyncOptions::default()
        };
        assert_eq!(
            names(&desired_users(&guest, &upn)),
            ["g_f.com#ext#@c.onmicrosoft.com"]
        );
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
}
