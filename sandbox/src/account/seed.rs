//! Seeding and inspection for tests, without going through HTTP. Each change is federated at once.

use crate::scim::store::default_email;

use super::Account;
use super::groups;
use super::state::{AccountServicePrincipal, AccountUser};

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
}
