//! Seeding and inspection for tests, without going through HTTP. Each change is federated at once.

use crate::scim::store::default_email;

use super::Account;
use super::groups;
use super::state::{AccountServicePrincipal, AccountUser, Permission};

impl Account {
    /// Lets the Entra identity `identity` ("system" or a user-assigned client id, as the identity
    /// endpoint names it) call the account as an account admin.
    pub fn admit_identity(&self, identity: &str) {
        self.state().admins.insert(identity.to_owned());
    }

    /// Seeds an active user and returns its id; `user_name` is lower-cased.
    ///
    /// # Panics
    /// If a user with that name exists already (a mistake in the test's setup).
    pub fn add_user(&self, user_name: &str, display_name: &str) -> String {
        let mut state = self.state();
        assert!(
            state.user_named(user_name).is_none(),
            "user {user_name} is seeded twice"
        );
        let id = state.new_id();
        let user_name = user_name.to_lowercase();
        state.users.insert(AccountUser {
            id: id.clone(),
            emails: vec![default_email(&user_name)],
            user_name,
            display_name: display_name.to_owned(),
            name: None,
            external_id: None,
            active: true,
            roles: Vec::new(),
        });
        id
    }

    /// Seeds an active service principal and returns its id.
    ///
    /// # Panics
    /// If one with that application id exists already.
    pub fn add_service_principal(&self, application_id: &str, display_name: &str) -> String {
        let mut state = self.state();
        assert!(
            state.service_principal_for(application_id).is_none(),
            "service principal {application_id} is seeded twice"
        );
        let id = state.new_id();
        state.service_principals.insert(AccountServicePrincipal {
            id: id.clone(),
            application_id: application_id.to_owned(),
            display_name: display_name.to_owned(),
            external_id: None,
            active: true,
            roles: Vec::new(),
        });
        id
    }

    /// Seeds a group with these members (ids of account principals or groups) and returns its id.
    ///
    /// # Panics
    /// If the name is taken or a member is unknown.
    pub fn add_group(&self, display_name: &str, members: &[&str]) -> String {
        let mut state = self.state();
        assert!(
            state.group_named(display_name, None).is_none(),
            "group {display_name} is seeded twice"
        );
        for member in members {
            assert!(state.kind_of(member).is_some(), "no principal {member}");
        }
        let id = state.new_id();
        let mut group = groups::seeded(id.clone(), display_name);
        for member in members {
            group.members.insert((*member).to_owned());
        }
        state.groups.insert(group);
        self.federate(&state);
        id
    }

    /// Every group of the account, `(id, display name)`, in creation order.
    pub fn groups(&self) -> Vec<(String, String)> {
        (self.state().groups.iter())
            .map(|g| (g.id.clone(), g.display_name.clone()))
            .collect()
    }

    /// The direct member ids of a group, in the order they were added (empty for an unknown group).
    pub fn members(&self, group_id: &str) -> Vec<String> {
        let state = self.state();
        (state.groups.get(group_id)).map_or_else(Vec::new, |g| g.members.iter().cloned().collect())
    }

    /// `(principal id, "USER"|"ADMIN")` assigned to a workspace, in id order.
    pub fn assignments(&self, workspace_id: u64) -> Vec<(String, &'static str)> {
        let state = self.state();
        (state.workspaces.get(&workspace_id))
            .map(|w| {
                w.assignments
                    .iter()
                    .map(|(id, p)| (id.clone(), p.name()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every user of the account, as it is now.
    pub fn users(&self) -> Vec<UserView> {
        (self.state().users.iter())
            .map(|u| UserView {
                id: u.id.clone(),
                user_name: u.user_name.clone(),
                external_id: u.external_id.clone(),
                active: u.active,
            })
            .collect()
    }

    /// The id of the user with this user name (compared case-insensitively).
    pub fn user_id(&self, user_name: &str) -> Option<String> {
        self.state().user_named(user_name).map(|u| u.id.clone())
    }

    /// The id of the group with this display name.
    pub fn group_id(&self, display_name: &str) -> Option<String> {
        (self.state().group_named(display_name, None)).map(|g| g.id.clone())
    }

    /// What a principal or group is called: a user's user name, a service principal's application
    /// id, a group's display name (the id itself when there is none of them).
    pub fn name_of(&self, id: &str) -> String {
        let state = self.state();
        let user = state
            .users
            .iter()
            .find(|u| u.id == id)
            .map(|u| &u.user_name);
        let sp = (state.service_principals.iter())
            .find(|sp| sp.id == id)
            .map(|sp| &sp.application_id);
        let group = state.groups.get(id).map(|g| &g.display_name);
        user.or(sp)
            .or(group)
            .map_or_else(|| id.to_owned(), Clone::clone)
    }

    /// Deactivates or reactivates a user or service principal, as an account admin would in the
    /// console (a deactivated user is deactivated in every workspace).
    ///
    /// # Panics
    /// If there is no such user or service principal.
    pub fn set_active(&self, id: &str, active: bool) {
        let mut state = self.state();
        if let Some(user) = state.users.iter_mut().find(|u| u.id == id) {
            user.active = active;
        } else if let Some(sp) = state.service_principals.iter_mut().find(|sp| sp.id == id) {
            sp.active = active;
        } else {
            panic!("no user or service principal {id}");
        }
        self.federate(&state);
    }

    /// Sets the `externalId` of a user or service principal, as automatic identity management or the
    /// Entra provisioning connector would (they set it to the Entra object id).
    ///
    /// # Panics
    /// If there is no such user or service principal.
    pub fn set_external_id(&self, id: &str, external_id: &str) {
        let mut state = self.state();
        let value = Some(external_id.to_owned());
        if let Some(user) = state.users.iter_mut().find(|u| u.id == id) {
            user.external_id = value;
        } else if let Some(sp) = state.service_principals.iter_mut().find(|sp| sp.id == id) {
            sp.external_id = value;
        } else {
            panic!("no user or service principal {id}");
        }
        self.federate(&state);
    }

    /// Gives a user, service principal or group the `account_admin` role (the members of such a group
    /// are account admins).
    ///
    /// # Panics
    /// If there is no such principal or group.
    pub fn grant_account_admin(&self, id: &str) {
        let mut state = self.state();
        let role = "account_admin".to_owned();
        if let Some(user) = state.users.iter_mut().find(|u| u.id == id) {
            user.roles.push(role);
        } else if let Some(sp) = state.service_principals.iter_mut().find(|sp| sp.id == id) {
            sp.roles.push(role);
        } else if let Some(group) = state.groups.iter_mut().find(|g| g.id == id) {
            group.roles.push(role);
        } else {
            panic!("no principal or group {id}");
        }
    }

    /// Assigns a principal or group to a workspace with `"USER"` or `"ADMIN"`, as an account admin
    /// would in the console, and federates it.
    ///
    /// # Panics
    /// If the workspace or the principal is unknown, or the permission is neither.
    pub fn assign(&self, workspace_id: u64, principal_id: &str, permission: &str) {
        let mut state = self.state();
        assert!(
            state.kind_of(principal_id).is_some(),
            "no principal {principal_id}"
        );
        let permission = match permission {
            "USER" => Permission::User,
            "ADMIN" => Permission::Admin,
            other => panic!("no permission {other}"),
        };
        let workspace = (state.workspaces.get_mut(&workspace_id))
            .unwrap_or_else(|| panic!("no workspace {workspace_id}"));
        workspace
            .assignments
            .insert(principal_id.to_owned(), permission);
        self.federate(&state);
    }
}

/// A user of the account as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
}
