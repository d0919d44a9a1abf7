//! The workspace's state: users, groups and service principals in creation order, indexed by id, plus the
//! switches tests turn. Lookups by name follow the service (user names, group names and application ids
//! compare case-insensitively). Membership lives on the group (`members`); see [`super::membership`].
//! Account groups (identity federation) are kept apart: a workspace group may hold one as a member, shown
//! as `Groups/<id>`, but the workspace API does not accept them as members, and lists and serves only
//! those assigned to the workspace, and those only for their entitlements here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::federation::{AccountLink, Federated};
use super::guard::Throttle;
use super::members::Members;

/// The PAT's owner, returned by `/Me`.
pub const ADMIN_USER_NAME: &str = "admin@contoso.com";
pub(crate) const ADMINS_GROUP: &str = "admins";
/// No documented maximum; the Go SDK asks for 10000 per page.
pub const DEFAULT_MAX_PAGE_SIZE: usize = 10_000;

pub(crate) trait Record {
    fn id(&self) -> &str;
    /// The name it shows as a member (a user without display name shows its user name).
    fn shown(&self) -> &str;
}

/// The kind and shown name of `id` in a directory's three tables (a workspace's, the account's).
pub(crate) fn principal_in<'a>(
    id: &str,
    users: &'a Table<impl Record>,
    groups: &'a Table<impl Record>,
    service_principals: &'a Table<impl Record>,
) -> Option<(Kind, &'a str)> {
    (users.get(id).map(|u| (Kind::User, u.shown())))
        .or_else(|| groups.get(id).map(|g| (Kind::Group, g.shown())))
        .or_else(|| (service_principals.get(id)).map(|sp| (Kind::ServicePrincipal, sp.shown())))
}

/// Rows in creation order with an index by id.
pub(crate) struct Table<T> {
    rows: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T: Record> Table<T> {
    pub fn new() -> Self {
        Table {
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).map(|&i| &self.rows[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.index.get(id).map(|&i| &mut self.rows[i])
    }

    pub fn insert(&mut self, row: T) {
        self.index.insert(row.id().to_owned(), self.rows.len());
        self.rows.push(row);
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let position = self.index.remove(id)?;
        let row = self.rows.remove(position);
        for i in self.index.values_mut() {
            if *i > position {
                *i -= 1;
            }
        }
        Some(row)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.rows.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.rows.iter_mut()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    /// Lower-cased.
    pub user_name: String,
    /// Empty when never set (then not rendered).
    pub display_name: String,
    pub name: Option<Value>,
    pub emails: Vec<Value>,
    pub external_id: Option<String>,
    pub active: bool,
    pub entitlements: Vec<String>,
    /// LIST shows the user from this instant on (`None`: at once).
    pub listed_from: Option<Instant>,
    /// A just-in-time user LIST does not show at all.
    pub hidden: bool,
    /// Deactivated in the Databricks account: listed inactive, and a workspace reactivation fails
    /// (HTTP 500, [`super::error::ScimError::account_deactivated`]) until the account reactivates it.
    pub account_deactivated: bool,
}

/// Not `Clone`: a group may have many members, and nothing should copy them all.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub display_name: String,
    /// Ids of users, service principals and groups, in the order they were added.
    pub members: Members,
    pub entitlements: Vec<String>,
    pub listed_from: Option<Instant>,
}

#[derive(Debug, Clone)]
pub(crate) struct ServicePrincipal {
    pub id: String,
    pub application_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub entitlements: Vec<String>,
    pub listed_from: Option<Instant>,
}

impl Record for User {
    fn id(&self) -> &str {
        &self.id
    }

    fn shown(&self) -> &str {
        if self.display_name.is_empty() {
            &self.user_name
        } else {
            &self.display_name
        }
    }
}

impl Record for Group {
    fn id(&self) -> &str {
        &self.id
    }

    fn shown(&self) -> &str {
        &self.display_name
    }
}

impl Record for ServicePrincipal {
    fn id(&self) -> &str {
        &self.id
    }

    fn shown(&self) -> &str {
        &self.display_name
    }
}

/// What kind of principal an id names, for `$ref` and `display` of members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Group,
    ServicePrincipal,
}

impl Kind {
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
            Kind::ServicePrincipal => "ServicePrincipals",
        }
    }
}

pub(crate) struct Settings {
    pub max_page_size: usize,
    pub visibility_delay: Duration,
    pub patch_answers_204: bool,
    pub omit_total_results: bool,
    /// Entra identities (the identity endpoint's `identity` claim) admitted with their own tokens, and
    /// the application id of the service principal each one is in this workspace.
    pub entra_identities: HashMap<String, String>,
}

pub(crate) struct Store {
    pub users: Table<User>,
    pub groups: Table<Group>,
    /// Account groups assigned to the workspace. Databricks: "Workspace-level SCIM does not recognize
    /// account groups that are assigned to your identity federated workspace and workspace-level SCIM
    /// API calls will fail if they involve account groups." So they are members of workspace groups
    /// (`admins` included) and rendered there, but PUT and DELETE of one answer 404, and so do GET and
    /// PATCH except, for a group an account assigned (`federated.listed_groups`), a GET without
    /// `members` and a PATCH of `entitlements` only ([`super::account_groups`]); LIST and filters leave
    /// them out (except the assigned ones), and adding one through the API is refused like an unknown
    /// principal. `entitlements` here are this workspace's entitlements of the account group.
    pub account_groups: Table<Group>,
    pub service_principals: Table<ServicePrincipal>,
    /// What an account federates into this workspace ([`super::federation`]).
    pub federated: Federated,
    /// The account this workspace is registered with (identity federation), if any.
    pub account: Option<Arc<dyn AccountLink>>,
    pub admin_id: String,
    pub settings: Settings,
    pub throttle: Option<Throttle>,
    /// Lower-cased user name → id; kept in step with `users` by [`Store::insert_user`] and
    /// [`Store::remove_user`], so a create does not scan every user.
    user_ids: HashMap<String, String>,
}

impl Store {
    /// A workspace with its admin user in the `admins` group.
    pub fn new() -> Store {
        let mut store = Store {
            users: Table::new(),
            groups: Table::new(),
            account_groups: Table::new(),
            service_principals: Table::new(),
            federated: Federated::default(),
            account: None,
            admin_id: String::new(),
            settings: Settings {
                max_page_size: DEFAULT_MAX_PAGE_SIZE,
                visibility_delay: Duration::ZERO,
                patch_answers_204: false,
                entra_identities: HashMap::new(),
                omit_total_results: false,
            },
            throttle: None,
            user_ids: HashMap::new(),
        };
        let admin = store.new_user(ADMIN_USER_NAME, "Workspace Admin", true, None);
        let admins = store.new_group(ADMINS_GROUP, None);
        store.admin_id = admin.clone();
        if let Some(group) = store.groups.get_mut(&admins) {
            group.members.insert(admin);
        }
        store
    }

    /// A fresh id that looks like the service's: 16 digits, not starting with 0.
    pub fn new_id(&self) -> String {
        loop {
            let random = uuid::Uuid::new_v4().as_u128() % 9_000_000_000_000_000;
            let id = (1_000_000_000_000_000 + random).to_string();
            if self.kind_of(&id).is_none() && self.account_groups.get(&id).is_none() {
                return id;
            }
        }
    }

    /// When a resource created now appears in LIST: `None` for seeding, the delay for API writes.
    pub fn listed_from(&self, via_api: bool) -> Option<Instant> {
        let delay = self.settings.visibility_delay;
        (via_api && !delay.is_zero()).then(|| Instant::now() + delay)
    }

    pub fn new_user(
        &mut self,
        user_name: &str,
        display_name: &str,
        active: bool,
        listed_from: Option<Instant>,
    ) -> String {
        let id = self.new_id();
        let user_name = user_name.to_lowercase();
        self.insert_user(User {
            emails: vec![default_email(&user_name)],
            id: id.clone(),
            user_name,
            display_name: display_name.to_owned(),
            name: None,
            external_id: None,
            active,
            entitlements: Vec::new(),
            listed_from,
            hidden: false,
            account_deactivated: false,
        });
        id
    }

    pub fn new_group(&mut self, display_name: &str, listed_from: Option<Instant>) -> String {
        let id = self.new_id();
        self.groups.insert(Group {
            id: id.clone(),
            display_name: display_name.to_owned(),
            members: Members::default(),
            entitlements: Vec::new(),
            listed_from,
        });
        id
    }

    /// The kind of a principal the workspace API serves (account groups are not among them).
    pub fn kind_of(&self, id: &str) -> Option<Kind> {
        self.served(id).map(|(kind, _)| kind)
    }

    fn served(&self, id: &str) -> Option<(Kind, &str)> {
        principal_in(id, &self.users, &self.groups, &self.service_principals)
    }

    /// Kind and display name of a principal (a user without display name shows its user name).
    pub fn principal(&self, id: &str) -> Option<(Kind, &str)> {
        if let Some(served) = self.served(id) {
            return Some(served);
        }
        // Rendered as a member like any group, though the workspace API does not serve it.
        self.account_groups
            .get(id)
            .map(|g| (Kind::Group, g.display_name.as_str()))
    }

    pub fn user_named(&self, user_name: &str) -> Option<&User> {
        let id = self.user_ids.get(&user_name.to_lowercase())?;
        self.users.get(id)
    }

    /// Adds a user (its name lower-cased and unique: callers check with [`Store::user_named`]).
    pub fn insert_user(&mut self, user: User) {
        self.user_ids
            .insert(user.user_name.clone(), user.id.clone());
        self.users.insert(user);
    }

    pub fn remove_user(&mut self, id: &str) -> Option<User> {
        let user = self.users.remove(id)?;
        self.user_ids.remove(&user.user_name);
        Some(user)
    }

    pub fn group_named(&self, display_name: &str) -> Option<&Group> {
        let wanted = display_name.to_lowercase();
        self.groups
            .iter()
            .find(|g| g.display_name.to_lowercase() == wanted)
    }

    /// [`Store::group_named`] among the groups other than `id`: for a group being renamed, which may
    /// carry the new name already.
    pub fn other_group_named(&self, display_name: &str, id: &str) -> Option<&Group> {
        let wanted = display_name.to_lowercase();
        self.groups
            .iter()
            .find(|g| g.id != id && g.display_name.to_lowercase() == wanted)
    }

    pub fn service_principal_for(&self, application_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals
            .iter()
            .find(|sp| sp.application_id.eq_ignore_ascii_case(application_id))
    }
}

pub(crate) fn default_email(user_name: &str) -> Value {
    serde_json::json!({ "value": user_name, "type": "work", "primary": true })
}

/// Whether a resource is in LIST results at `now`.
pub(crate) fn listed(listed_from: Option<Instant>, now: Instant) -> bool {
    listed_from.is_none_or(|from| now >= from)
}
