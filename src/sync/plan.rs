//! The plan: what must change so a workspace has its desired users. A pure function of the desired
//! users, the workspace's current users and the policy; its output is plain data a dry run shows.
//! Invariant (tested): applying a plan, then planning again, gives an empty plan.

use std::collections::BTreeMap;

use serde::Serialize;

use super::desired::{DesiredUser, UserName};
use crate::databricks::ScimUser;

/// One change to a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    CreateUser {
        user_name: UserName,
        display_name: String,
    },
    ActivateUser {
        id: String,
        user_name: UserName,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateUser { .. } => "createUser",
            Action::ActivateUser { .. } => "activateUser",
        }
    }

    pub fn target(&self) -> &UserName {
        match self {
            Action::CreateUser { user_name, .. } | Action::ActivateUser { user_name, .. } => {
                user_name
            }
        }
    }
}

/// What the sync may do in a workspace. (Deprovisioning options arrive with their issue.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {}

/// The changes, and how many desired users need none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Desired users already present and active.
    pub existing: u64,
}

/// Computes the changes that make `current` contain every desired user, active.
pub fn plan(
    desired: &BTreeMap<UserName, DesiredUser>,
    current: &[ScimUser],
    _policy: &Policy,
) -> Plan {
    let mut by_name: BTreeMap<UserName, &ScimUser> = BTreeMap::new();
    for user in current {
        if let Some(name) = UserName::parse(&user.user_name) {
            // Two listed users with one name cannot both be ours; prefer an active one.
            let keep = by_name
                .get(&name)
                .is_some_and(|kept| kept.active && !user.active);
            if !keep {
                by_name.insert(name, user);
            }
        }
    }
    let mut result = Plan::default();
    for (name, want) in desired {
        match by_name.get(name) {
            None => result.actions.push(Action::CreateUser {
                user_name: name.clone(),
                display_name: want.display_name.clone(),
            }),
            Some(user) if !user.active => result.actions.push(Action::ActivateUser {
                id: user.id.clone(),
                user_name: name.clone(),
            }),
            Some(_) => result.existing += 1,
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(names: &[&str]) -> BTreeMap<UserName, DesiredUser> {
        names
            .iter()
            .map(|n| {
                let name = UserName::parse(n).unwrap();
                (
                    name.clone(),
                    DesiredUser {
                        user_name: name,
                        display_name: format!("D {n}"),
                    },
                )
            })
            .collect()
    }

    fn user(id: &str, name: &str, active: bool) -> ScimUser {
        ScimUser {
            id: id.into(),
            user_name: name.into(),
            active,
        }
    }

    fn name(n: &str) -> UserName {
        UserName::parse(n).unwrap()
    }

    /// What a workspace looks like after the plan's actions succeed.
    fn apply(current: &[ScimUser], plan: &Plan) -> Vec<ScimUser> {
        let mut after = current.to_vec();
        for (i, action) in plan.actions.iter().enumerate() {
            match action {
                Action::CreateUser { user_name, .. } => {
                    after.push(user(&format!("new{i}"), user_name.as_str(), true))
                }
                Action::ActivateUser { id, .. } => after
                    .iter_mut()
                    .filter(|u| &u.id == id)
                    .for_each(|u| u.active = true),
            }
        }
        after
    }

    #[test]
    fn table_of_cases() {
        struct Case {
            what: &'static str,
            desired: &'static [&'static str],
            current: Vec<ScimUser>,
            actions: Vec<Action>,
            existing: u64,
        }
        let create = |n: &str| Action::CreateUser {
            user_name: name(n),
            display_name: format!("D {n}"),
        };
        let activate = |id: &str, n: &str| Action::ActivateUser {
            id: id.into(),
            user_name: name(n),
        };
        let cases = [
            Case {
                what: "empty workspace",
                desired: &["a@c.com", "b@c.com"],
                current: vec![],
                actions: vec![create("a@c.com"), create("b@c.com")],
                existing: 0,
            },
            Case {
                what: "nothing wanted",
                desired: &[],
                current: vec![user("1", "x@c.com", true)],
                actions: vec![],
                existing: 0,
            },
            Case {
                what: "already there, other case",
                desired: &["a@c.com"],
                current: vec![user("1", "A@C.com", true)],
                actions: vec![],
                existing: 1,
            },
            Case {
                what: "inactive is reactivated",
                desired: &["a@c.com"],
                current: vec![user("1", "a@c.com", false)],
                actions: vec![activate("1", "a@c.com")],
                existing: 0,
            },
            Case {
                what: "users outside the groups are left alone",
                desired: &["a@c.com"],
                current: vec![user("1", "a@c.com", true), user("2", "z@c.com", false)],
                actions: vec![],
                existing: 1,
            },
            Case {
                what: "duplicate listing prefers the active one",
                desired: &["a@c.com"],
                current: vec![user("1", "a@c.com", true), user("2", "A@c.com", false)],
                actions: vec![],
                existing: 1,
            },
            Case {
                what: "mixed",
                desired: &["a@c.com", "b@c.com", "c@c.com"],
                current: vec![user("1", "a@c.com", true), user("2", "b@c.com", false)],
                actions: vec![activate("2", "b@c.com"), create("c@c.com")],
                existing: 1,
            },
        ];
        for case in cases {
            let got = plan(&desired(case.desired), &case.current, &Policy::default());
            assert_eq!(got.actions, case.actions, "{}", case.what);
            assert_eq!(got.existing, case.existing, "{}", case.what);
            let after = apply(&case.current, &got);
            let again = plan(&desired(case.desired), &after, &Policy::default());
            assert!(
                again.actions.is_empty(),
                "{}: planning after applying must give nothing, got {:?}",
                case.what,
                again.actions
            );
            assert_eq!(again.existing, case.desired.len() as u64, "{}", case.what);
        }
    }
}
