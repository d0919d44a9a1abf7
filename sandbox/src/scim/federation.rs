//! Identity federation as one workspace sees it: the principals and groups an account
//! ([`crate::account`]) assigns to this workspace, placed into the workspace's own tables with their
//! account ids, so that every existing read path serves them. The account sends the whole view after
//! each change; [`ScimWorkspace::federate`] applies the difference:
//! - users and service principals enter `users` / `service_principals` (id = the account id) and leave
//!   when no longer assigned (directly or through an assigned account group, at any depth); memberships
//!   in workspace groups made meanwhile are kept while they stay;
//! - a user deactivated in the account is inactive here and marked `account_deactivated` (a workspace
//!   reactivation answers 500 until the account reactivates it, as [`ScimWorkspace::deactivate_in_account`]);
//! - account groups enter `account_groups`: those assigned to the workspace are listed (`meta.resourceType`
//!   `"Group"`) and served only for their entitlements in this workspace ([`super::account_groups`]);
//!   groups nested in them are only rendered as members, and are not served at all;
//! - an `ADMIN` assignment makes the principal or group a member of `admins`, and taking it back removes
//!   that membership (only the ones federation added).
//!
//! The other way, a workspace registered with an account holds an [`AccountLink`]: a workspace-level
//! `POST Users` or `POST ServicePrincipals` goes through it to the account (see `users.rs`,
//! `service_principals.rs` and the account's `link.rs`).
//!
//! A workspace-local user or service principal with the same user name or application id as an account
//! one is left alone and the account one is not placed (how Databricks merges them is not modelled).

use std::collections::HashSet;
use std::sync::Arc;

use super::ScimWorkspace;
use super::error::ScimError;
use super::members::Members;
use super::store::{ADMINS_GROUP, Group, ServicePrincipal, Store, User, default_email};

/// What a workspace asks of the account it is registered with: a workspace-level POST of a user or a
/// service principal on an identity-federated workspace adds the principal to the account.
///
/// Each call takes the account's lock, runs `check` (the workspace's own refusals: the principal is in
/// the workspace already, a group in the body is unknown) under it, then finds the account's principal
/// with that user name or application id or creates it from `wanted` (id, account fields), assigns it
/// to the workspace (`USER`, an existing permission kept), federates, and answers its account id.
/// `None`: the account is gone, or no longer knows the workspace; the workspace then acts alone.
pub(crate) trait AccountLink: Send + Sync {
    fn add_user(
        &self,
        wanted: &User,
        check: &dyn Fn() -> Result<(), ScimError>,
    ) -> Option<Result<String, ScimError>>;

    fn add_service_principal(
        &self,
        wanted: &ServicePrincipal,
        check: &dyn Fn() -> Result<(), ScimError>,
    ) -> Option<Result<String, ScimError>>;
}

/// Ids this workspace holds because an account federates them.
#[derive(Debug, Default)]
pub(crate) struct Federated {
    /// Every id placed (users, service principals, account groups).
    pub placed: HashSet<String>,
    /// Account groups assigned to the workspace: listed by `GET /Groups`.
    pub listed_groups: HashSet<String>,
    /// Members of `admins` added for an `ADMIN` assignment.
    pub admins: HashSet<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct FederatedUser {
    pub id: String,
    pub user_name: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct FederatedServicePrincipal {
    pub id: String,
    pub application_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct FederatedGroup {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
    /// Assigned to the workspace itself (not only nested in an assigned group).
    pub assigned: bool,
}

/// Everything an account federates into one workspace.
#[derive(Debug, Default)]
pub(crate) struct FederatedView {
    pub users: Vec<FederatedUser>,
    pub service_principals: Vec<FederatedServicePrincipal>,
    pub groups: Vec<FederatedGroup>,
    /// Principals and groups assigned `ADMIN`.
    pub admins: HashSet<String>,
}

/// One account group's change of members that added and removed users and service principals only
/// (`group` is its id), or a change to one user or service principal (`group` is `None`).
#[derive(Debug, Default)]
pub(crate) struct MembersChanged {
    pub group: Option<String>,
    /// The principals the group gained, in id order; or the principal that changed.
    pub users: Vec<FederatedUser>,
    pub service_principals: Vec<FederatedServicePrincipal>,
    /// The principals it lost, each with whether the workspace still reaches it otherwise.
    pub removed: Vec<(String, bool)>,
}

impl ScimWorkspace {
    /// Registers the account this workspace is identity-federated with (replacing any before).
    pub(crate) fn link_account(&self, link: Arc<dyn AccountLink>) {
        self.store().account = Some(link);
    }

    /// The account this workspace is registered with, if any (the store's lock is not kept: the
    /// account locks a workspace, never the other way round).
    pub(crate) fn account(&self) -> Option<Arc<dyn AccountLink>> {
        self.store().account.clone()
    }

    /// After the account added `id` for a workspace-level POST: what the POST body sets in this
    /// workspace alone (the `entitlements` of a user or service principal, the `groups` it joins), and
    /// the visibility delay of a resource created through the API.
    pub(crate) fn settle_added(&self, id: &str, entitlements: Vec<String>, groups: &[String]) {
        let mut store = self.store();
        let listed_from = store.listed_from(true);
        if let Some(user) = store.users.get_mut(id) {
            user.entitlements = entitlements;
            user.listed_from = listed_from;
        } else if let Some(sp) = store.service_principals.get_mut(id) {
            sp.entitlements = entitlements;
            sp.listed_from = listed_from;
        }
        store.join(id, groups);
    }

    /// What [`ScimWorkspace::federate`] does for `change`, without walking every federated principal:
    /// a principal the group lost and the workspace no longer reaches leaves it, one it gained is
    /// placed (if the workspace does not hold it yet; one it holds takes the account's fields), and the
    /// group's members follow. A gained principal was reached by no group before (else it would be
    /// placed), so no other group's members change.
    pub(crate) fn federate_members(&self, change: &MembersChanged) {
        let mut store = self.store();
        for (id, still) in &change.removed {
            if !still && store.federated.placed.remove(id) {
                store.remove_user(id);
                store.service_principals.remove(id);
                store.forget_member(id);
                store.federated.admins.remove(id);
            }
        }
        for user in &change.users {
            place_user(&mut store, user);
        }
        for sp in &change.service_principals {
            place_service_principal(&mut store, sp);
        }
        let added = (change.users.iter().map(|u| &u.id))
            .chain(change.service_principals.iter().map(|sp| &sp.id));
        let known: Vec<String> = added
            .filter(|id| store.principal(id).is_some())
            .cloned()
            .collect();
        let group = change.group.as_deref();
        if let Some(group) = group.and_then(|id| store.account_groups.get_mut(id)) {
            for (id, _) in &change.removed {
                group.members.remove(id);
            }
            for id in known {
                group.members.insert(id);
            }
        }
    }

    /// Brings the workspace's federated principals in line with `view`.
    pub(crate) fn federate(&self, view: &FederatedView) {
        let mut store = self.store();
        let wanted: HashSet<&str> = (view.users.iter().map(|u| u.id.as_str()))
            .chain(view.service_principals.iter().map(|sp| sp.id.as_str()))
            .chain(view.groups.iter().map(|g| g.id.as_str()))
            .collect();
        let gone: Vec<String> = (store.federated.placed.iter())
            .filter(|id| !wanted.contains(id.as_str()))
            .cloned()
            .collect();
        for id in &gone {
            store.remove_user(id);
            store.service_principals.remove(id);
            store.account_groups.remove(id);
            store.forget_member(id);
            store.federated.placed.remove(id);
            store.federated.admins.remove(id);
        }
        for user in &view.users {
            place_user(&mut store, user);
        }
        for sp in &view.service_principals {
            place_service_principal(&mut store, sp);
        }
        place_groups(&mut store, &view.groups);
        set_admins(&mut store, &view.admins);
    }
}

fn place_user(store: &mut Store, wanted: &FederatedUser) {
    if let Some(user) = store.users.get_mut(&wanted.id) {
        wanted.display_name.clone_into(&mut user.display_name);
        user.external_id.clone_from(&wanted.external_id);
        // Deactivated in the account: inactive everywhere. Reactivated: active again only once the
        // workspace reactivates it too (the knowledge base's order).
        user.account_deactivated = !wanted.active;
        if !wanted.active {
            user.active = false;
        }
        return;
    }
    if store.user_named(&wanted.user_name).is_some() {
        return;
    }
    let user_name = wanted.user_name.to_lowercase();
    store.insert_user(User {
        id: wanted.id.clone(),
        emails: vec![default_email(&user_name)],
        user_name,
        display_name: wanted.display_name.clone(),
        name: None,
        external_id: wanted.external_id.clone(),
        active: wanted.active,
        entitlements: Vec::new(),
        listed_from: None,
        hidden: false,
        account_deactivated: !wanted.active,
    });
    store.federated.placed.insert(wanted.id.clone());
}

fn place_service_principal(store: &mut Store, wanted: &FederatedServicePrincipal) {
    if let Some(sp) = store.service_principals.get_mut(&wanted.id) {
        wanted.display_name.clone_into(&mut sp.display_name);
        sp.external_id.clone_from(&wanted.external_id);
        sp.active = wanted.active;
        return;
    }
    if store
        .service_principal_for(&wanted.application_id)
        .is_some()
    {
        return;
    }
    store.service_principals.insert(ServicePrincipal {
        id: wanted.id.clone(),
        application_id: wanted.application_id.clone(),
        display_name: wanted.display_name.clone(),
        external_id: wanted.external_id.clone(),
        active: wanted.active,
        entitlements: Vec::new(),
        listed_from: None,
    });
    store.federated.placed.insert(wanted.id.clone());
}

/// Account groups with their members (those the workspace knows once every group is placed).
fn place_groups(store: &mut Store, groups: &[FederatedGroup]) {
    for wanted in groups {
        let entitlements = (store.account_groups.remove(&wanted.id))
            .map(|g| g.entitlements)
            .unwrap_or_default();
        store.account_groups.insert(Group {
            id: wanted.id.clone(),
            display_name: wanted.display_name.clone(),
            members: Members::default(),
            entitlements,
            listed_from: None,
        });
        store.federated.placed.insert(wanted.id.clone());
        if wanted.assigned {
            store.federated.listed_groups.insert(wanted.id.clone());
        } else {
            store.federated.listed_groups.remove(&wanted.id);
        }
    }
    for wanted in groups {
        let known: Members = (wanted.members.iter())
            .filter(|m| store.principal(m).is_some())
            .cloned()
            .collect();
        if let Some(group) = store.account_groups.get_mut(&wanted.id) {
            group.members = known;
        }
    }
    let placed = &store.federated.placed;
    store
        .federated
        .listed_groups
        .retain(|id| placed.contains(id));
}

/// `admins` holds exactly the federated principals assigned `ADMIN` (besides its own members).
fn set_admins(store: &mut Store, wanted: &HashSet<String>) {
    let Some(admins) = store.group_named(ADMINS_GROUP).map(|g| g.id.clone()) else {
        return;
    };
    let before = std::mem::take(&mut store.federated.admins);
    let placed: HashSet<String> = (wanted.iter())
        .filter(|id| store.federated.placed.contains(*id))
        .cloned()
        .collect();
    if let Some(group) = store.groups.get_mut(&admins) {
        for id in before.difference(&placed) {
            group.members.remove(id);
        }
        for id in placed.difference(&before) {
            group.members.insert(id.clone());
        }
    }
    store.federated.admins = placed;
}
