//! What the account federates into each identity-federated workspace: the principals assigned to it
//! directly, and those reached through an assigned account group at any depth of nesting; the assigned
//! groups (listed there) and the groups nested in them (shown only as members); who holds `ADMIN`.
//!
//! After a change to one resource, only the workspaces that reach it are federated again
//! ([`reaching`], [`Change`]), and when the change only added or removed users and service principals
//! of a group, only that difference ([`crate::scim::federation::MembersChanged`]): re-federating every
//! workspace whole at each write made the emulator, not the client, the cost of a large run (5
//! workspaces of 10,000 federated users took 125 ms a write).

use std::collections::{BTreeSet, HashSet};

use crate::scim::federation::{
    FederatedGroup, FederatedServicePrincipal, FederatedUser, FederatedView, MembersChanged,
};

use super::Account;
use super::state::{AccountServicePrincipal, AccountUser, AccountWorkspace, Permission, State};

/// The view of one workspace.
pub(crate) fn view(state: &State, workspace: &AccountWorkspace) -> FederatedView {
    let assigned_groups: HashSet<&str> = (workspace.assignments.keys())
        .filter(|id| state.groups.get(id).is_some())
        .map(String::as_str)
        .collect();
    let reached = reached(state, workspace);
    let mut view = FederatedView::default();
    for id in &reached {
        if let Some(user) = state.users.get(id) {
            view.users.push(federated_user(user));
        } else if let Some(sp) = state.service_principals.get(id) {
            view.service_principals
                .push(federated_service_principal(sp));
        } else if let Some(group) = state.groups.get(id) {
            view.groups.push(FederatedGroup {
                id: group.id.clone(),
                display_name: group.display_name.clone(),
                members: group.members.iter().cloned().collect(),
                assigned: assigned_groups.contains(id.as_str()),
            });
        }
    }
    view.admins = (workspace.assignments.iter())
        .filter(|(_, p)| **p == Permission::Admin)
        .map(|(id, _)| id.clone())
        .collect();
    view
}

/// Every principal and group assigned to the workspace or nested in an assigned group.
fn reached(state: &State, workspace: &AccountWorkspace) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut stack: Vec<&String> = workspace.assignments.keys().collect();
    while let Some(id) = stack.pop() {
        if state.kind_of(id).is_none() || !reached.insert(id.clone()) {
            continue;
        }
        if let Some(group) = state.groups.get(id) {
            stack.extend(group.members.iter());
        }
    }
    reached
}

/// The workspaces whose view can depend on the resource `id`: those it is assigned to, directly or
/// through a group holding it at any depth. A change to `id` (its fields, or a group's members) leaves
/// every other workspace's view as it was.
pub(crate) fn reaching(state: &State, id: &str) -> BTreeSet<u64> {
    // `id` and every group holding it, directly or through other groups.
    let mut holders: HashSet<&str> = HashSet::from([id]);
    loop {
        let more: Vec<&str> = (state.groups.iter())
            .filter(|g| !holders.contains(g.id.as_str()))
            .filter(|g| holders.iter().any(|h| g.members.contains(h)))
            .map(|g| g.id.as_str())
            .collect();
        if more.is_empty() {
            break;
        }
        holders.extend(more);
    }
    (state.workspaces.iter())
        .filter(|(_, w)| holders.iter().any(|h| w.assignments.contains_key(*h)))
        .map(|(id, _)| *id)
        .collect()
}

/// A change to one resource being made: the workspaces that reach it before the change and, when it
/// is a group they reach, its name and members before it.
pub(crate) struct Change {
    id: String,
    reaching: BTreeSet<u64>,
    group: Option<(String, HashSet<String>)>,
}

impl Change {
    /// Before changing `id`.
    pub(crate) fn of(state: &State, id: &str) -> Change {
        let reaching = reaching(state, id);
        // A change to a group leaves the groups holding it, so who reaches it, as they were: a group
        // nobody reaches (the marker group) is not copied.
        let group = (!reaching.is_empty())
            .then(|| state.groups.get(id))
            .flatten()
            .map(|g| (g.display_name.clone(), g.members.iter().cloned().collect()));
        Change {
            id: id.to_owned(),
            reaching,
            group,
        }
    }

    /// Once the change is made: brings the workspaces that reach the resource, before or after, in
    /// line with the account: only the difference when a group gained or lost users and service
    /// principals and nothing else, or when a user or service principal changed; else each of them
    /// whole.
    pub(crate) fn federate(self, account: &Account, state: &State) {
        let mut touched = self.reaching;
        touched.extend(reaching(state, &self.id));
        let principal = |m: &str| {
            (state.users.get(m).map(|u| &u.id))
                .or_else(|| state.service_principals.get(m).map(|sp| &sp.id))
        };
        let difference = match self.group {
            Some(before) => members_changed(state, &self.id, before)
                .map(|(added, removed)| (Some(self.id.clone()), added, removed)),
            // A user or service principal: its fields, in every workspace holding it.
            None => principal(&self.id).map(|id| (None, vec![id], Vec::new())),
        };
        let Some((group, added, removed)) = difference else {
            account.federate_only(state, &touched);
            return;
        };
        let reached: Vec<(&String, BTreeSet<u64>)> =
            (removed.iter()).map(|m| (m, reaching(state, m))).collect();
        for id in touched {
            let Some(scim) = state.workspaces.get(&id).and_then(|w| w.scim.as_ref()) else {
                continue;
            };
            let mut change = MembersChanged {
                group: group.clone(),
                removed: (reached.iter())
                    .map(|(m, r)| ((*m).clone(), r.contains(&id)))
                    .collect(),
                ..MembersChanged::default()
            };
            for m in &added {
                if let Some(user) = state.users.get(m.as_str()) {
                    change.users.push(federated_user(user));
                } else if let Some(sp) = state.service_principals.get(m.as_str()) {
                    change
                        .service_principals
                        .push(federated_service_principal(sp));
                }
            }
            scim.federate_members(&change);
        }
    }
}

/// The members group `id` gained (in id order) and lost since `before`, when its name is unchanged
/// and every one of them is a user or a service principal; else `None`.
fn members_changed<'a>(
    state: &'a State,
    id: &str,
    (name, before): (String, HashSet<String>),
) -> Option<(Vec<&'a String>, Vec<String>)> {
    let group = state.groups.get(id)?;
    if group.display_name != name {
        return None;
    }
    let principal =
        |m: &str| state.users.get(m).is_some() || state.service_principals.get(m).is_some();
    let mut added: Vec<&String> = (group.members.iter())
        .filter(|m| !before.contains(*m))
        .collect();
    added.sort();
    let removed: Vec<String> = (before.into_iter())
        .filter(|m| !group.members.contains(m))
        .collect();
    let only_principals =
        added.iter().all(|m| principal(m)) && removed.iter().all(|m| principal(m));
    only_principals.then_some((added, removed))
}

fn federated_user(user: &AccountUser) -> FederatedUser {
    FederatedUser {
        id: user.id.clone(),
        user_name: user.user_name.clone(),
        display_name: user.display_name.clone(),
        external_id: user.external_id.clone(),
        active: user.active,
    }
}

fn federated_service_principal(sp: &AccountServicePrincipal) -> FederatedServicePrincipal {
    FederatedServicePrincipal {
        id: sp.id.clone(),
        application_id: sp.application_id.clone(),
        display_name: sp.display_name.clone(),
        external_id: sp.external_id.clone(),
        active: sp.active,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::super::Account;
    use super::*;
    use crate::scim::ScimWorkspace;

    /// Everything federation decides in a workspace, in order.
    fn federated(ws: &ScimWorkspace) -> String {
        let store = ws.store();
        let mut out = String::new();
        for u in store.users.iter() {
            let (id, name, shown, ext) = (&u.id, &u.user_name, &u.display_name, &u.external_id);
            let (active, gone) = (u.active, u.account_deactivated);
            writeln!(out, "user {id} {name} {shown:?} {ext:?} {active} {gone}").unwrap();
        }
        for sp in store.service_principals.iter() {
            let (id, app, active) = (&sp.id, &sp.application_id, sp.active);
            writeln!(out, "sp {id} {app} {active}").unwrap();
        }
        for (kind, table) in [("account", &store.account_groups), ("local", &store.groups)] {
            for g in table.iter() {
                let members: Vec<&String> = g.members.iter().collect();
                writeln!(out, "{kind} group {} {} {members:?}", g.id, g.display_name).unwrap();
            }
        }
        let sorted = |set: &HashSet<String>| {
            let mut v: Vec<String> = set.iter().cloned().collect();
            v.sort();
            v
        };
        let f = &store.federated;
        let (placed, listed, admins) = (
            sorted(&f.placed),
            sorted(&f.listed_groups),
            sorted(&f.admins),
        );
        writeln!(out, "placed {placed:?} listed {listed:?} admins {admins:?}").unwrap();
        out
    }

    #[test]
    fn federating_only_the_difference_leaves_each_workspace_as_federating_it_whole_would() {
        let account = Account::new("a");
        let (one, two) = (ScimWorkspace::new("dapi1"), ScimWorkspace::new("dapi2"));
        account.add_workspace(1, &one);
        account.add_workspace(2, &two);
        let u: Vec<String> = (1..=6)
            .map(|i| account.add_user(&format!("u{i}@contoso.com"), &format!("U {i}")))
            .collect();
        let sp = account.add_service_principal("app-1", "App");
        // ws-1 has a user of its own named as the account's u6: the account one is never placed there.
        one.add_user("u6@contoso.com", "local u6", true);
        let g1 = account.add_group("G1", &[&u[0], &u[1]]);
        let g2 = account.add_group("G2", &[&u[1], &u[2]]);
        let outer = account.add_group("Outer", &[&g2]);
        account.assign(1, &g1, "USER");
        account.assign(1, &u[2], "ADMIN");
        account.assign(2, &outer, "USER");
        let team = two.add_group("team");
        two.add_member(&team, &u[2]);

        type Step = Box<dyn Fn(&mut State)>;
        let add = |group: &str, member: &str| -> Step {
            let (group, member) = (group.to_owned(), member.to_owned());
            Box::new(move |state: &mut State| {
                state
                    .groups
                    .get_mut(&group)
                    .unwrap()
                    .members
                    .insert(member.clone());
            })
        };
        let remove = |group: &str, member: &str| -> Step {
            let (group, member) = (group.to_owned(), member.to_owned());
            Box::new(move |state: &mut State| {
                state
                    .groups
                    .get_mut(&group)
                    .unwrap()
                    .members
                    .remove(&member);
            })
        };
        let steps: Vec<(&str, &String, Step)> = vec![
            ("u4 joins G1: placed in ws-1", &g1, add(&g1, &u[3])),
            (
                "u2 leaves G1: leaves ws-1, stays in ws-2",
                &g1,
                remove(&g1, &u[1]),
            ),
            (
                "u3 leaves G2: stays in ws-1 (ADMIN), leaves ws-2 and its group",
                &g2,
                remove(&g2, &u[2]),
            ),
            (
                "u6 joins G1: not placed over ws-1's own u6",
                &g1,
                add(&g1, &u[5]),
            ),
            ("u5 and the app join G2", &g2, {
                let (a, b) = (add(&g2, &u[4]), add(&g2, &sp));
                Box::new(move |state: &mut State| {
                    a(state);
                    b(state);
                })
            }),
            ("u1 deactivated", &u[0], {
                let id = u[0].clone();
                Box::new(move |state: &mut State| {
                    state.users.get_mut(&id).unwrap().active = false;
                })
            }),
            ("G1 renamed: whole", &g1, {
                let id = g1.clone();
                Box::new(move |state: &mut State| {
                    state.groups.get_mut(&id).unwrap().display_name = "G-one".to_owned();
                })
            }),
            ("G1 nested in G2: whole", &g2, add(&g2, &g1)),
            ("G1 out of G2 again: whole", &g2, remove(&g2, &g1)),
        ];
        for (what, id, step) in steps {
            let mut state = account.state();
            let change = Change::of(&state, id);
            step(&mut state);
            change.federate(&account, &state);
            let by_difference = [federated(&one), federated(&two)];
            account.federate(&state);
            assert_eq!([federated(&one), federated(&two)], by_difference, "{what}");
        }
        let listed = |ws: &ScimWorkspace| {
            let mut names: Vec<String> = ws.users().into_iter().map(|u| u.user_name).collect();
            names.sort();
            names
        };
        let names =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };
        assert_eq!(
            listed(&one),
            names(&[
                "admin@contoso.com",
                "u1@contoso.com",
                "u3@contoso.com",
                "u4@contoso.com",
                "u6@contoso.com"
            ])
        );
        assert_eq!(
            listed(&two),
            names(&["admin@contoso.com", "u2@contoso.com", "u5@contoso.com"])
        );
    }

    #[test]
    fn a_resource_reaches_the_workspaces_it_is_assigned_to_directly_or_through_groups() {
        let account = Account::new("a");
        for id in [1, 2, 3] {
            account.add_unfederated_workspace(id);
        }
        let user = account.add_user("u@contoso.com", "u");
        let alone = account.add_user("v@contoso.com", "v");
        let inner = account.add_group("inner", &[&user]);
        let outer = account.add_group("outer", &[&inner]);
        account.assign(1, &outer, "USER");
        account.assign(2, &user, "ADMIN");
        let state = account.state();
        assert_eq!(reaching(&state, &user), BTreeSet::from([1, 2]));
        assert_eq!(reaching(&state, &inner), BTreeSet::from([1]));
        assert_eq!(reaching(&state, &outer), BTreeSet::from([1]));
        assert_eq!(reaching(&state, &alone), BTreeSet::new());
    }
}
