//! The account's state: users, service principals and groups in creation order (the workspace
//! emulator's [`Table`]), and the workspaces the account knows with their permission assignments.
//! User names (lower-cased) and application ids are unique case-insensitively, group names too.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::scim::ScimWorkspace;
use crate::scim::filter::{AttrValue, Filterable};
use crate::scim::members::Members;
use crate::scim::store::{Kind, Record, Table, principal_in};

use super::guard::Limits;

#[derive(Debug, Clone)]
pub(crate) struct AccountUser {
    pub id: String,
    /// Lower-cased.
    pub user_name: String,
    pub display_name: String,
    pub name: Option<Value>,
    pub emails: Vec<Value>,
    /// Kept as sent (at most 64 characters).
    pub external_id: Option<String>,
    pub active: bool,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccountServicePrincipal {
    pub id: String,
    pub application_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub roles: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct AccountGroup {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Members,
    pub roles: Vec<String>,
}

/// The permission levels an assignment can hold, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Permission {
    User,
    Admin,
}

impl Permission {
    pub fn name(self) -> &'static str {
        match self {
            Permission::User => "USER",
            Permission::Admin => "ADMIN",
        }
    }
}

/// A workspace the account knows.
pub(crate) struct AccountWorkspace {
    /// `None`: not identity-federated (the permission assignment API is not available).
    pub scim: Option<ScimWorkspace>,
    /// Principal id → its one permission level (ADMIN wins over USER).
    pub assignments: BTreeMap<String, Permission>,
}

pub(crate) struct State {
    pub users: Table<AccountUser>,
    pub service_principals: Table<AccountServicePrincipal>,
    pub groups: Table<AccountGroup>,
    /// By workspace id, in id order.
    pub workspaces: BTreeMap<u64, AccountWorkspace>,
    /// Entra identities (the identity endpoint's `identity` claim) admitted as account admins.
    pub admins: HashSet<String>,
    pub limits: Option<Limits>,
    /// A successful PATCH answers 204 without a body instead of 200 with the resource.
    pub patch_answers_204: bool,
}

impl State {
    pub fn new() -> State {
        State {
            users: Table::new(),
            service_principals: Table::new(),
            groups: Table::new(),
            workspaces: BTreeMap::new(),
            admins: HashSet::new(),
            limits: None,
            patch_answers_204: false,
        }
    }

    /// A fresh id that looks like the service's: 16 digits, not starting with 0.
    pub fn new_id(&self) -> String {
        loop {
            let random = uuid::Uuid::new_v4().as_u128() % 9_000_000_000_000_000;
            let id = (1_000_000_000_000_000 + random).to_string();
            if self.kind_of(&id).is_none() {
                return id;
            }
        }
    }

    pub fn kind_of(&self, id: &str) -> Option<Kind> {
        self.principal(id).map(|(kind, _)| kind)
    }

    /// Kind and display name (a user without one shows its user name).
    pub fn principal(&self, id: &str) -> Option<(Kind, &str)> {
        principal_in(id, &self.users, &self.groups, &self.service_principals)
    }

    pub fn user_named(&self, user_name: &str) -> Option<&AccountUser> {
        (self.users.iter()).find(|u| u.user_name.eq_ignore_ascii_case(user_name))
    }

    pub fn service_principal_for(&self, application_id: &str) -> Option<&AccountServicePrincipal> {
        (self.service_principals.iter())
            .find(|sp| sp.application_id.eq_ignore_ascii_case(application_id))
    }

    /// A group other than `except` with this name (case-insensitive).
    pub fn group_named(&self, name: &str, except: Option<&str>) -> Option<&AccountGroup> {
        (self.groups.iter())
            .find(|g| Some(g.id.as_str()) != except && g.display_name.eq_ignore_ascii_case(name))
    }

    /// Removes `id` from every group and every workspace's assignments.
    pub fn forget(&mut self, id: &str) {
        for group in self.groups.iter_mut() {
            group.members.remove(id);
        }
        for workspace in self.workspaces.values_mut() {
            workspace.assignments.remove(id);
        }
    }

    /// Whether `group` is `target` or contains it at any depth.
    pub fn contains(&self, group: &str, target: &str) -> bool {
        let mut stack = vec![group.to_owned()];
        let mut seen = HashSet::new();
        while let Some(current) = stack.pop() {
            if current == target {
                return true;
            }
            if seen.insert(current.clone())
                && let Some(g) = self.groups.get(&current)
            {
                stack.extend(g.members.iter().cloned());
            }
        }
        false
    }
}

impl Record for AccountUser {
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

impl Record for AccountServicePrincipal {
    fn id(&self) -> &str {
        &self.id
    }

    fn shown(&self) -> &str {
        &self.display_name
    }
}

impl Record for AccountGroup {
    fn id(&self) -> &str {
        &self.id
    }

    fn shown(&self) -> &str {
        &self.display_name
    }
}

impl Filterable for AccountUser {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "username" => Some(AttrValue::Text(&self.user_name)),
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "externalid" => self.external_id.as_deref().map(AttrValue::Text),
            "active" => Some(AttrValue::Flag(self.active)),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}

impl Filterable for AccountServicePrincipal {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "applicationid" => Some(AttrValue::Text(&self.application_id)),
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "externalid" => self.external_id.as_deref().map(AttrValue::Text),
            "active" => Some(AttrValue::Flag(self.active)),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}

impl Filterable for AccountGroup {
    fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match name {
            "displayname" => Some(AttrValue::Text(&self.display_name)),
            "externalid" => self.external_id.as_deref().map(AttrValue::Text),
            "id" => Some(AttrValue::Text(&self.id)),
            _ => None,
        }
    }
}
