//! Seeding and inspection for tests: add principals and memberships without going through HTTP (seeded
//! resources are listed at once, whatever the visibility delay), hide users from LIST as a just-in-time
//! login would, and read the state back as plain snapshots (in creation order, admin user included).

use super::ScimWorkspace;
use super::fields::ENTITLEMENTS;
use super::store::{ADMINS_GROUP, Group, ServicePrincipal, Store};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSnapshot {
    pub id: String,
    /// Lower-cased.
    pub user_name: String,
    /// Empty when never set.
    pub display_name: String,
    pub active: bool,
    /// Display names of the groups the user is a direct member of, in group creation order.
    pub groups: Vec<String>,
    pub entitlements: Vec<String>,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub id: String,
    pub display_name: String,
    /// Ids of the direct members (users, service principals, groups), in the order they were added.
    pub members: Vec<String>,
    pub entitlements: Vec<String>,
}

/// A service principal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipalSnapshot {
    pub id: String,
    pub application_id: String,
    pub display_name: String,
    pub active: bool,
    /// Display names of the groups it is a direct member of.
    pub groups: Vec<String>,
    pub entitlements: Vec<String>,
}

impl ScimWorkspace {
    /// Seeds a user and returns its id; `user_name` is lower-cased.
    ///
    /// # Panics
    /// If a user with that name exists already (a mistake in the test's setup).
    pub fn add_user(&self, user_name: &str, display_name: &str, active: bool) -> String {
        let mut store = self.store();
        assert!(
            store.user_named(user_name).is_none(),
            "user {user_name} is seeded twice"
        );
        store.new_user(user_name, display_name, active, None)
    }

    /// Seeds a group and returns its id.
    ///
    /// # Panics
    /// If a group with that name (compared case-insensitively) exists already.
    pub fn add_group(&self, display_name: &str) -> String {
        let mut store = self.store();
        assert!(
            store.group_named(display_name).is_none(),
            "group {display_name} is seeded twice"
        );
        store.new_group(display_name, None)
    }

    /// Seeds a service principal and returns its id.
    ///
    /// # Panics
    /// If a service principal with that application id exists already.
    pub fn add_service_principal(
        &self,
        application_id: &str,
        display_name: &str,
        active: bool,
    ) -> String {
        let mut store = self.store();
        assert!(
            store.service_principal_for(application_id).is_none(),
            "service principal {application_id} is seeded twice"
        );
        let id = store.new_id();
        store.service_principals.insert(ServicePrincipal {
            id: id.clone(),
            application_id: application_id.to_owned(),
            display_name: display_name.to_owned(),
            external_id: None,
            active,
            entitlements: Vec::new(),
            listed_from: None,
        });
        id
    }

    /// Lets the Entra identity `identity` ("system" or a user-assigned client id, as the identity
    /// endpoint names it) call this workspace with its own token for Azure Databricks, as the service
    /// principal `application_id`, made a workspace admin. Returns the service principal's id.
    pub fn admit_identity(&self, identity: &str, application_id: &str) -> String {
        let existing = self
            .store()
            .service_principal_for(application_id)
            .map(|sp| sp.id.clone());
        let id = existing.unwrap_or_else(|| {
            self.add_service_principal(application_id, "entra-databricks-sync", true)
        });
        let admins = self.store().group_named(ADMINS_GROUP).map(|g| g.id.clone());
        if let Some(admins) = admins {
            self.add_member(&admins, &id);
        }
        self.store()
            .settings
            .entra_identities
            .insert(identity.to_owned(), application_id.to_owned());
        id
    }

    /// Seeds a membership (idempotent).
    ///
    /// # Panics
    /// If either id is unknown, or the membership would make a cycle.
    pub fn add_member(&self, group_id: &str, member_id: &str) {
        let mut store = self.store();
        assert!(store.groups.get(group_id).is_some(), "no group {group_id}");
        let member = member_id.to_owned();
        if let Err(error) = store.check_members(Some(group_id), [&member]) {
            panic!("cannot add {member_id} to {group_id}: {}", error.detail);
        }
        store.join(member_id, &[group_id.to_owned()]);
    }

    /// Seeds an account group assigned to this workspace (identity federation) with these members (ids
    /// of users or service principals of the workspace) and returns its id. The workspace API does not
    /// serve it (see [`ScimWorkspace::nest_account_group`]).
    ///
    /// # Panics
    /// If a member is unknown.
    pub fn add_account_group(&self, display_name: &str, members: &[&str]) -> String {
        let mut store = self.store();
        for member in members {
            assert!(
                store.users.get(member).is_some() || store.service_principals.get(member).is_some(),
                "no user or service principal {member}"
            );
        }
        let id = store.new_id();
        store.account_groups.insert(Group {
            id: id.clone(),
            display_name: display_name.to_owned(),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            entitlements: Vec::new(),
            listed_from: None,
        });
        id
    }

    /// Makes the account group `account_group_id` a member of the workspace group `group_id` (as an
    /// account admin can make an account group a member of `admins`): the group's `members` then show
    /// it as `{"value": id, "display": name, "$ref": "Groups/<id>"}`, while `GET Groups/<id>` answers
    /// 404, as for any group the workspace API does not serve.
    ///
    /// # Panics
    /// If either id is unknown.
    pub fn nest_account_group(&self, group_id: &str, account_group_id: &str) {
        let mut store = self.store();
        assert!(
            store.account_groups.get(account_group_id).is_some(),
            "no account group {account_group_id}"
        );
        let group = store.groups.get_mut(group_id);
        let group = group.unwrap_or_else(|| panic!("no group {group_id}"));
        group.members.insert(account_group_id.to_owned());
    }

    /// This workspace's entitlements of an account group (identity federation), in the order they
    /// were granted; empty for an unknown group.
    pub fn account_group_entitlements(&self, group_id: &str) -> Vec<String> {
        (self.store().account_groups.get(group_id))
            .map_or_else(Vec::new, |g| g.entitlements.clone())
    }

    /// Sets this workspace's entitlements of an account group the workspace holds (as a workspace admin
    /// would have through `PATCH Groups/{id}`).
    ///
    /// # Panics
    /// If the workspace holds no account group `group_id`, or an entitlement is not one a workspace
    /// accepts.
    pub fn set_account_group_entitlements(&self, group_id: &str, entitlements: &[&str]) {
        for entitlement in entitlements {
            assert!(
                ENTITLEMENTS.contains(entitlement),
                "no entitlement {entitlement}"
            );
        }
        let mut store = self.store();
        let group = store.account_groups.get_mut(group_id);
        let group = group.unwrap_or_else(|| panic!("no account group {group_id}"));
        group.entitlements = entitlements.iter().map(|e| (*e).to_owned()).collect();
    }

    /// Makes a user invisible to LIST and filters, as one created by a just-in-time login moments ago:
    /// GET by id still finds it and POST of the same user name still answers 409. Seeds the user (display
    /// name = user name, active) when there is none yet.
    pub fn hide_from_list(&self, user_name: &str) {
        let mut store = self.store();
        if store.user_named(user_name).is_none() {
            store.new_user(user_name, user_name, true, None);
        }
        set_hidden(&mut store, user_name, true);
    }

    /// Undoes [`ScimWorkspace::hide_from_list`].
    pub fn show_in_list(&self, user_name: &str) {
        set_hidden(&mut self.store(), user_name, false);
    }

    /// Deactivates a user in the Databricks account, as an account admin (or the account's own SCIM
    /// connector) would: the workspace lists it inactive, and reactivating it here answers 500 until
    /// [`ScimWorkspace::reactivate_in_account`].
    ///
    /// # Panics
    /// If there is no such user (a mistake in the test's setup).
    pub fn deactivate_in_account(&self, user_name: &str) {
        let mut store = self.store();
        let user = user_id(&store, user_name).and_then(|id| store.users.get_mut(&id));
        let user = user.unwrap_or_else(|| panic!("no user {user_name} to deactivate"));
        user.active = false;
        user.account_deactivated = true;
    }

    /// An account admin reactivates the user in the account: it stays inactive in the workspace (the
    /// knowledge base: account first, then the workspace), and reactivating it there works again.
    pub fn reactivate_in_account(&self, user_name: &str) {
        let mut store = self.store();
        if let Some(user) = user_id(&store, user_name).and_then(|id| store.users.get_mut(&id)) {
            user.account_deactivated = false;
        }
    }

    /// The id of the PAT's owner, `admin@contoso.com`.
    pub fn admin_user_id(&self) -> String {
        self.store().admin_id.clone()
    }

    pub fn users(&self) -> Vec<UserSnapshot> {
        let store = self.store();
        // Memberships once for all users: a group of many members is not scanned once per user.
        let memberships = store.memberships();
        store
            .users
            .iter()
            .map(|u| UserSnapshot {
                id: u.id.clone(),
                user_name: u.user_name.clone(),
                display_name: u.display_name.clone(),
                active: u.active,
                groups: memberships
                    .get(u.id.as_str())
                    .map(|groups| groups.iter().map(|g| g.display_name.clone()).collect())
                    .unwrap_or_default(),
                entitlements: u.entitlements.clone(),
            })
            .collect()
    }

    /// `(user name or application id, externalId)` of every user, then every service principal, in
    /// creation order.
    pub fn external_ids(&self) -> Vec<(String, Option<String>)> {
        let store = self.store();
        let users = (store.users.iter()).map(|u| (u.user_name.clone(), u.external_id.clone()));
        let sps = (store.service_principals.iter())
            .map(|sp| (sp.application_id.clone(), sp.external_id.clone()));
        users.chain(sps).collect()
    }

    /// Sets the `externalId` of a seeded user or service principal (by id), as another provisioner
    /// would have.
    ///
    /// # Panics
    /// If there is no principal with that id.
    pub fn set_external_id(&self, id: &str, external_id: &str) {
        let mut store = self.store();
        if let Some(user) = store.users.get_mut(id) {
            user.external_id = Some(external_id.to_owned());
        } else if let Some(sp) = store.service_principals.get_mut(id) {
            sp.external_id = Some(external_id.to_owned());
        } else {
            panic!("no principal {id}");
        }
    }

    /// `(id, user name, active)` of every user, in creation order: what a listing shows, cheaply.
    pub fn user_states(&self) -> Vec<(String, String, bool)> {
        self.store()
            .users
            .iter()
            .map(|u| (u.id.clone(), u.user_name.clone(), u.active))
            .collect()
    }

    pub fn groups(&self) -> Vec<GroupSnapshot> {
        self.store()
            .groups
            .iter()
            .map(|g: &Group| GroupSnapshot {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                members: g.members.iter().cloned().collect(),
                entitlements: g.entitlements.clone(),
            })
            .collect()
    }

    pub fn service_principals(&self) -> Vec<ServicePrincipalSnapshot> {
        let store = self.store();
        store
            .service_principals
            .iter()
            .map(|sp| ServicePrincipalSnapshot {
                id: sp.id.clone(),
                application_id: sp.application_id.clone(),
                display_name: sp.display_name.clone(),
                active: sp.active,
                groups: group_names(&store, &sp.id),
                entitlements: sp.entitlements.clone(),
            })
            .collect()
    }
}

fn group_names(store: &Store, id: &str) -> Vec<String> {
    store
        .groups_of(id)
        .iter()
        .map(|g| g.display_name.clone())
        .collect()
}

fn user_id(store: &Store, user_name: &str) -> Option<String> {
    store.user_named(user_name).map(|u| u.id.clone())
}

fn set_hidden(store: &mut Store, user_name: &str, hidden: bool) {
    let id = user_id(store, user_name);
    if let Some(user) = id.and_then(|id| store.users.get_mut(&id)) {
        user.hidden = hidden;
    }
}
