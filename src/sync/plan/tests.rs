//! The plan's table of cases, and "apply, then plan again: nothing to do".

use super::*;

fn desired(names: &[&str]) -> Principals {
    names
        .iter()
        .map(|n| (key(n), format!("D {n}").into()))
        .collect()
}

/// A user name, or a service principal's application id (a GUID).
fn key(n: &str) -> Principal {
    match AppId::parse(n) {
        Some(id) => Principal::ServicePrincipal(id),
        None => Principal::User(name(n)),
    }
}

fn user(id: &str, name: &str, active: bool) -> ScimUser {
    ScimUser {
        id: id.into(),
        user_name: name.into(),
        active,
        external_id: ExternalId::ABSENT,
    }
}

fn name(n: &str) -> UserName {
    UserName::parse(n).unwrap()
}

fn ids(ids: &[&str]) -> HashSet<ScimId> {
    ids.iter().map(|s| ScimId::from(*s)).collect()
}

fn sp(id: &str, app: &str, active: bool) -> ScimServicePrincipal {
    ScimServicePrincipal {
        id: id.into(),
        application_id: app.into(),
        display_name: None,
        active,
        external_id: ExternalId::ABSENT,
    }
}

fn current(users: Vec<ScimUser>, marker: Option<&[&str]>, protected: &[&str]) -> Current {
    Current {
        users,
        service_principals: Vec::new(),
        marker_members: marker.map(|m| ids(m).into_iter().collect()),
        marker_id: marker.map(|_| "marker".into()),
        groups: BTreeMap::new(),
        protected: ids(protected),
        admins: Admins::Known,
    }
}

fn policy(deprovision: Deprovision, max: MaxDeprovision) -> Policy {
    Policy {
        deprovision,
        max_deprovision: max,
        ..Policy::default()
    }
}

const MARKER: &str = "entra-sync-managed";

/// What a workspace looks like after the plan's actions succeed.
fn apply(before: &Current, plan: &Plan) -> Current {
    let mut after = before.clone();
    for (i, action) in plan.actions.iter().enumerate() {
        match action {
            Action::Create {
                principal: Principal::User(n),
                ..
            } => after.users.push(user(&format!("new{i}"), n.as_str(), true)),
            Action::Create {
                principal: Principal::ServicePrincipal(app),
                ..
            } => after
                .service_principals
                .push(sp(&format!("new{i}"), app.as_str(), true)),
            Action::Activate { id, .. } => set_active(&mut after, id, true),
            Action::Deactivate { id, .. } => set_active(&mut after, id, false),
            Action::Remove { id, .. } => {
                after.users.retain(|u| u.id != *id);
                after.service_principals.retain(|u| u.id != *id);
                if let Some(m) = after.marker_members.as_mut() {
                    m.remove(id);
                }
            }
            Action::CreateGroup { display_name } if display_name == MARKER => {
                after.marker_members = Some(Ids::default())
            }
            Action::CreateGroup { display_name } => {
                after
                    .groups
                    .insert(display_name.clone(), GroupState::default());
            }
            Action::AddToGroup { group, members } => {
                for member in members {
                    let id = after.lookup().get(member).unwrap().id.clone();
                    match after.groups.get_mut(group) {
                        Some(g) => {
                            g.members.insert(id);
                        }
                        None => {
                            after.marker_members.as_mut().unwrap().insert(id);
                        }
                    }
                }
            }
            Action::Mark(marking) => {
                let created = plan.actions.iter().filter_map(|a| match a {
                    Action::Create { principal, .. } => Some(principal),
                    _ => None,
                });
                assert_eq!(created.clone().count(), marking.created);
                let marker = after.marker_members.clone().unwrap();
                let mut marker = marker;
                for member in marking.listed.iter().chain(created) {
                    marker.insert(after.lookup().get(member).unwrap().id.clone());
                }
                after.marker_members = Some(marker);
            }
            Action::RemoveFromGroup(removal) => {
                let Removal { group, id, .. } = &**removal;
                after.groups.get_mut(group).unwrap().members.remove(id);
            }
            Action::AddEntitlements {
                group,
                entitlements,
            } => {
                let g = after.groups.get_mut(group).unwrap();
                g.entitlements.extend(entitlements.iter().cloned());
            }
        }
    }
    after
}

fn set_active(current: &mut Current, id: &str, active: bool) {
    for u in current.users.iter_mut().filter(|u| u.id == id) {
        u.active = active;
    }
    for sp in current
        .service_principals
        .iter_mut()
        .filter(|sp| sp.id == id)
    {
        sp.active = active;
    }
}

fn create(n: &str) -> Action {
    Action::Create {
        principal: key(n),
        display_name: format!("D {n}").into(),
        external_id: EntraId::nil(),
    }
}
fn activate(id: &str, n: &str) -> Action {
    Action::Activate {
        id: id.into(),
        principal: key(n),
    }
}
fn mark(listed: &[&str], created: usize) -> Action {
    Action::Mark(Box::new(Marking {
        group: MARKER.into(),
        listed: listed.iter().map(|n| key(n)).collect(),
        created,
    }))
}
fn marker_group() -> Action {
    Action::CreateGroup {
        display_name: MARKER.into(),
    }
}
fn deactivate(id: &str, n: &str) -> Action {
    Action::Deactivate {
        id: id.into(),
        principal: key(n),
    }
}
fn remove(id: &str, n: &str) -> Action {
    Action::Remove {
        id: id.into(),
        principal: key(n),
    }
}

struct Case {
    what: &'static str,
    desired: &'static [&'static str],
    current: Current,
    policy: Policy,
    actions: Vec<Action>,
    existing: u64,
    held: usize,
}

fn cases() -> Vec<Case> {
    let keep = || policy(Deprovision::None, MaxDeprovision::Default);
    let deact = |max| policy(Deprovision::Deactivate, max);
    vec![
        Case {
            what: "empty workspace: create, then mark, creating the marker group",
            desired: &["a@c.com", "b@c.com"],
            current: current(vec![], None, &[]),
            policy: keep(),
            actions: vec![
                create("a@c.com"),
                create("b@c.com"),
                marker_group(),
                mark(&[], 2),
            ],
            existing: 0,
            held: 0,
        },
        Case {
            what: "nothing wanted, nothing marked: nothing to do",
            desired: &[],
            current: current(vec![user("1", "x@c.com", true)], None, &[]),
            policy: deact(MaxDeprovision::Default),
            actions: vec![],
            existing: 0,
            held: 0,
        },
        Case {
            what: "present with another case and already marked",
            desired: &["a@c.com"],
            current: current(vec![user("1", "A@C.com", true)], Some(&["1"]), &[]),
            policy: keep(),
            actions: vec![],
            existing: 1,
            held: 0,
        },
        Case {
            what: "present but not marked yet: adopted into the marker group",
            desired: &["a@c.com"],
            current: current(vec![user("1", "a@c.com", true)], Some(&[]), &[]),
            policy: keep(),
            actions: vec![mark(&["a@c.com"], 0)],
            existing: 1,
            held: 0,
        },
        Case {
            what: "inactive and wanted: reactivated",
            desired: &["a@c.com"],
            current: current(vec![user("1", "a@c.com", false)], Some(&["1"]), &[]),
            policy: deact(MaxDeprovision::Default),
            actions: vec![activate("1", "a@c.com")],
            existing: 0,
            held: 0,
        },
        Case {
            what: "deprovision none: leavers are left alone",
            desired: &["a@c.com"],
            current: current(
                vec![user("1", "a@c.com", true), user("2", "z@c.com", true)],
                Some(&["1", "2"]),
                &[],
            ),
            policy: keep(),
            actions: vec![],
            existing: 1,
            held: 0,
        },
        Case {
            what: "deactivate: a managed leaver is deactivated; unmanaged, protected and already inactive ones are not",
            desired: &["a@c.com"],
            current: current(
                vec![
                    user("1", "a@c.com", true),
                    user("2", "left@c.com", true),
                    user("3", "handmade@c.com", true),
                    user("4", "admin@c.com", true),
                    user("5", "gone@c.com", false),
                ],
                Some(&["1", "2", "4", "5"]),
                &["4"],
            ),
            policy: deact(MaxDeprovision::Count(5)),
            actions: vec![deactivate("2", "left@c.com")],
            existing: 1,
            held: 0,
        },
        Case {
            what: "remove: managed leavers are removed, inactive ones too",
            desired: &[],
            current: current(
                vec![
                    user("2", "left@c.com", true),
                    user("5", "gone@c.com", false),
                ],
                Some(&["2", "5"]),
                &[],
            ),
            policy: policy(Deprovision::Remove, MaxDeprovision::Count(5)),
            actions: vec![remove("2", "left@c.com"), remove("5", "gone@c.com")],
            existing: 0,
            held: 0,
        },
        Case {
            what: "beyond the limit: every deprovisioning is held, the rest goes on",
            desired: &["new@c.com"],
            current: current(
                vec![
                    user("1", "l1@c.com", true),
                    user("2", "l2@c.com", true),
                    user("3", "l3@c.com", true),
                ],
                Some(&["1", "2", "3"]),
                &[],
            ),
            policy: deact(MaxDeprovision::Count(2)),
            actions: vec![create("new@c.com"), mark(&[], 1)],
            existing: 0,
            held: 3,
        },
        Case {
            what: "beyond the limit but confirmed: applied",
            desired: &[],
            current: current(
                vec![user("1", "l1@c.com", true), user("2", "l2@c.com", true)],
                Some(&["1", "2"]),
                &[],
            ),
            policy: Policy {
                allow_deprovision: true,
                ..deact(MaxDeprovision::Count(1))
            },
            actions: vec![deactivate("1", "l1@c.com"), deactivate("2", "l2@c.com")],
            existing: 0,
            held: 0,
        },
        Case {
            what: "a percentage of the managed users",
            desired: &[],
            current: current(
                (0..10)
                    .map(|i| user(&i.to_string(), &format!("u{i}@c.com"), true))
                    .collect(),
                Some(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
                &[],
            ),
            policy: deact(MaxDeprovision::Percent(50.0)),
            actions: vec![],
            existing: 0,
            held: 10,
        },
        Case {
            what: "service principals: created, reactivated, marked like users; a managed one who left is deactivated",
            desired: &[SP_A, SP_B, "a@c.com"],
            current: Current {
                service_principals: vec![
                    sp("s2", SP_B, false),
                    sp("s9", SP_GONE, true),
                    sp("s8", "not-a-guid", true),
                ],
                ..current(
                    vec![user("1", "a@c.com", true)],
                    Some(&["1", "s2", "s9", "s8"]),
                    &[],
                )
            },
            policy: deact(MaxDeprovision::Count(5)),
            actions: vec![
                create(SP_A),
                activate("s2", SP_B),
                mark(&[], 1),
                deactivate("s9", SP_GONE),
            ],
            existing: 1,
            held: 0,
        },
        Case {
            what: "an application id in another case is the same service principal",
            desired: &[SP_A],
            current: Current {
                service_principals: vec![sp("s1", &SP_A.to_uppercase(), true)],
                ..current(vec![], Some(&["s1"]), &[])
            },
            policy: policy(Deprovision::Remove, MaxDeprovision::Count(5)),
            actions: vec![],
            existing: 1,
            held: 0,
        },
    ]
}

const SP_A: &str = "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a";
const SP_B: &str = "1c8d8a4f-9b5f-4d3b-8e8f-2a1f3e4d5c6b";
const SP_GONE: &str = "2d9e9b5a-ac6a-4e4c-9f9a-3b2a4f5e6d7c";

#[test]
fn table_of_cases() {
    for case in cases() {
        let got = plan(&desired(case.desired), &[], &case.current, &case.policy);
        assert_eq!(got.actions, case.actions, "{}", case.what);
        assert_eq!(got.existing, case.existing, "{}", case.what);
        assert_eq!(got.held.len(), case.held, "{}", case.what);
        assert_eq!(got.held_reason.is_some(), case.held > 0, "{}", case.what);
    }
}

#[test]
fn applying_a_plan_then_planning_again_gives_nothing_to_do() {
    for case in cases() {
        let policy = Policy {
            allow_deprovision: true,
            ..case.policy.clone()
        };
        let first = plan(&desired(case.desired), &[], &case.current, &policy);
        let after = apply(&case.current, &first);
        let again = plan(&desired(case.desired), &[], &after, &policy);
        assert!(
            again.actions.is_empty() && again.held.is_empty(),
            "{}: {:?}",
            case.what,
            again
        );
    }
}

#[test]
fn the_held_reason_says_how_many_the_limit_and_how_to_confirm() {
    let current = current(
        vec![user("1", "l1@c.com", true), user("2", "l2@c.com", true)],
        Some(&["1", "2"]),
        &[],
    );
    let got = plan(
        &desired(&[]),
        &[],
        &current,
        &policy(Deprovision::Deactivate, MaxDeprovision::Count(1)),
    );
    let reason = got.held_reason.unwrap();
    assert!(reason.starts_with("deprovisioning held: 2 of the 2 managed principals would be deprovisioned, more than the limit of 1"), "{reason}");
    assert!(reason.contains("\"allowDeprovision\": true"), "{reason}");
}

#[test]
fn mirrored_groups_get_exactly_their_members_and_their_entitlements() {
    let group = |members: &[&str]| DesiredGroup {
        name: "Data-Science".into(),
        members: members.iter().map(|n| key(n)).collect(),
        entitlements: vec!["workspace-access".into()],
    };
    let users = vec![
        user("1", "a@c.com", true),
        user("2", "b@c.com", true),
        user("3", "gone@c.com", true),
    ];
    let mut workspace = current(users, Some(&["1", "2", "3"]), &[]);

    // Missing group: created with its entitlements and members.
    let wanted = [group(&["a@c.com", "new@c.com"])];
    let got = plan(
        &desired(&["a@c.com", "b@c.com", "new@c.com"]),
        &wanted,
        &workspace,
        &Policy::default(),
    );
    let kinds: Vec<&str> = got.actions.iter().map(Action::kind).collect();
    assert_eq!(
        kinds,
        [
            "createUser",
            "addToGroup",
            "createGroup",
            "addEntitlements",
            "addToGroup"
        ]
    );
    let after = apply(&workspace, &got);
    assert!(
        plan(
            &desired(&["a@c.com", "b@c.com", "new@c.com"]),
            &wanted,
            &after,
            &Policy::default()
        )
        .actions
        .is_empty()
    );

    // Existing group: the missing member is added, the one who left is removed, the entitlement kept.
    workspace.groups.insert(
        "Data-Science".into(),
        GroupState {
            id: "g".into(),
            members: ids(&["1", "3"]),
            entitlements: vec!["workspace-access".into()],
        },
    );
    let wanted = [group(&["a@c.com", "b@c.com"])];
    let got = plan(
        &desired(&["a@c.com", "b@c.com"]),
        &wanted,
        &workspace,
        &Policy::default(),
    );
    assert_eq!(
        got.actions,
        [
            Action::AddToGroup {
                group: "Data-Science".into(),
                members: vec![key("b@c.com")]
            },
            Action::RemoveFromGroup(Box::new(Removal {
                group: "Data-Science".into(),
                id: "3".into(),
                member: key("gone@c.com")
            })),
        ]
    );
    let after = apply(&workspace, &got);
    assert!(
        plan(
            &desired(&["a@c.com", "b@c.com"]),
            &wanted,
            &after,
            &Policy::default()
        )
        .actions
        .is_empty()
    );
}

#[test]
fn mirrored_groups_hold_service_principals_too_and_leave_unlisted_members_alone() {
    let wanted = [DesiredGroup {
        name: "Jobs".into(),
        members: [key(SP_A), key("a@c.com")].into_iter().collect(),
        entitlements: vec![],
    }];
    let mut workspace = Current {
        service_principals: vec![sp("s1", SP_A, true), sp("s2", SP_B, true)],
        ..current(vec![user("1", "a@c.com", true)], Some(&["1", "s1"]), &[])
    };
    workspace.groups.insert(
        "Jobs".into(),
        GroupState {
            id: "g".into(),
            // s2 left the Entra group; "nested-group" is a member the sync never lists.
            members: ids(&["1", "s2", "nested-group"]),
            entitlements: vec![],
        },
    );
    let want = desired(&[SP_A, "a@c.com"]);
    let got = plan(&want, &wanted, &workspace, &Policy::default());
    assert_eq!(
        got.actions,
        [
            Action::AddToGroup {
                group: "Jobs".into(),
                members: vec![key(SP_A)]
            },
            Action::RemoveFromGroup(Box::new(Removal {
                group: "Jobs".into(),
                id: "s2".into(),
                member: key(SP_B)
            })),
        ]
    );
    assert_eq!(got.actions[1].kind(), "removeFromGroup");
    assert_eq!(got.actions[1].target(), format!("Jobs: {SP_B}"));
    let after = apply(&workspace, &got);
    assert!(
        plan(&want, &wanted, &after, &Policy::default())
            .actions
            .is_empty()
    );
    assert!(after.groups["Jobs"].members.contains("nested-group"));
}

#[test]
fn principal_actions_say_which_kind_of_principal() {
    let kinds: Vec<&str> = [
        create(SP_A),
        activate("s", SP_A),
        deactivate("s", SP_A),
        remove("s", SP_A),
    ]
    .iter()
    .map(Action::kind)
    .collect();
    assert_eq!(
        kinds,
        [
            "createServicePrincipal",
            "activateServicePrincipal",
            "deactivateServicePrincipal",
            "removeServicePrincipal"
        ]
    );
    assert_eq!(create("a@c.com").kind(), "createUser");
}

#[test]
fn an_action_stays_small_because_a_first_sync_plans_one_per_principal() {
    assert!(std::mem::size_of::<Action>() <= 56);
}

#[test]
fn a_listed_principal_stays_small_because_a_listing_holds_one_per_principal() {
    // 48 bytes before externalId was read: its fingerprint fits in the padding.
    assert!(std::mem::size_of::<ScimUser>() <= 48);
    assert!(std::mem::size_of::<crate::databricks::ExternalId>() <= 4);
}

#[test]
fn an_external_id_fingerprint_tells_guids_apart_and_is_never_absent_or_other() {
    let a = EntraId::from_u128(1);
    let b = EntraId::from_u128(2);
    assert!(ExternalId::of(&a).is(&a));
    assert!(!ExternalId::of(&a).is(&b));
    for n in 0..10_000u128 {
        let id = ExternalId::of(&EntraId::from_u128(n << 64 | n));
        assert!(id != ExternalId::ABSENT && id != ExternalId::OTHER);
    }
}

#[test]
fn an_external_id_that_is_not_the_entra_object_id_is_reported_never_changed() {
    let guid = |n: u128| EntraId::from_u128(n);
    let desired: Principals = [
        ("same@c.com", guid(1)),
        ("other@c.com", guid(2)),
        ("text@c.com", guid(3)),
        ("none@c.com", guid(4)),
        ("new@c.com", guid(5)),
        ("unknown@c.com", EntraId::nil()),
    ]
    .into_iter()
    .map(|(n, id)| (key(n), format!("D {n}").into(), id))
    .collect();
    let with = |mut u: ScimUser, id: ExternalId| {
        u.external_id = id;
        u
    };
    let before = current(
        vec![
            with(user("1", "same@c.com", true), ExternalId::of(&guid(1))),
            with(user("2", "other@c.com", true), ExternalId::of(&guid(9))),
            with(user("3", "text@c.com", true), ExternalId::OTHER),
            user("4", "none@c.com", true),
            with(user("6", "unknown@c.com", true), ExternalId::OTHER),
        ],
        Some(&["1", "2", "3", "4", "6"]),
        &[],
    );
    let plan = plan(&desired, &[], &before, &Policy::default());
    assert_eq!(
        plan.external_ids,
        ExternalIdFindings {
            differ: 2,
            differing: vec![key("other@c.com"), key("text@c.com")],
            absent: 1,
        }
    );
    // Only the missing user is created, with its object id; nothing else is planned for the others.
    assert_eq!(
        plan.actions,
        [
            Action::Create {
                principal: key("new@c.com"),
                display_name: "D new@c.com".into(),
                external_id: guid(5),
            },
            mark(&[], 1),
        ]
    );
}

/// Three managed principals (two users and a service principal), all in a mirrored group without its
/// entitlement; Entra now shows only `a@c.com` and the newcomer `new@c.com`, because the others were
/// listed with limited information.
fn incomplete_read() -> (Principals, [DesiredGroup; 1], Current) {
    let wanted = [DesiredGroup {
        name: "Data-Science".into(),
        members: [key("a@c.com"), key("new@c.com")].into_iter().collect(),
        entitlements: vec!["workspace-access".into()],
    }];
    let mut workspace = Current {
        service_principals: vec![sp("s1", SP_A, true)],
        ..current(
            vec![user("1", "a@c.com", true), user("2", "b@c.com", true)],
            Some(&["1", "2", "s1"]),
            &[],
        )
    };
    workspace.groups.insert(
        "Data-Science".into(),
        GroupState {
            id: "g".into(),
            members: ids(&["1", "2", "s1"]),
            entitlements: vec![],
        },
    );
    (desired(&["a@c.com", "new@c.com"]), wanted, workspace)
}

#[test]
fn an_incomplete_read_holds_every_removal_however_few_and_confirmed_and_lets_additions_through() {
    let (want, wanted, workspace) = incomplete_read();
    let remove = Policy {
        deprovision: Deprovision::Remove,
        allow_deprovision: true,
        ..Policy::default()
    };
    // Complete, the same state would lose two principals: well under the threshold of 5.
    let complete = plan(&want, &wanted, &workspace, &remove);
    assert_eq!(complete.deprovisionings(), 2);
    assert_eq!(complete.held_reason, None);

    let incomplete = Policy {
        hold_removals: Some("the read is incomplete".into()),
        ..remove
    };
    let got = plan(&want, &wanted, &workspace, &incomplete);
    let kinds = |actions: &[Action]| -> Vec<String> {
        actions
            .iter()
            .map(|a| format!("{} {}", a.kind(), a.target()))
            .collect()
    };
    assert_eq!(
        kinds(&got.actions),
        [
            "createUser new@c.com",
            "addToGroup entra-sync-managed",
            "addToGroup Data-Science"
        ],
        "the additions go ahead"
    );
    assert_eq!(
        kinds(&got.held),
        [
            "addEntitlements Data-Science",
            "removeFromGroup Data-Science: b@c.com",
            &format!("removeFromGroup Data-Science: {SP_A}"),
            "removeUser b@c.com",
            &format!("removeServicePrincipal {SP_A}"),
        ]
    );
    assert_eq!(got.deprovisionings(), 0);
    assert_eq!(got.held_reason.as_deref(), Some("the read is incomplete"));

    // Over the limit as well: the incomplete read is the reason given, and every action still waits.
    let over = Policy {
        max_deprovision: MaxDeprovision::Count(1),
        allow_deprovision: false,
        ..incomplete.clone()
    };
    let got = plan(&want, &wanted, &workspace, &over);
    assert_eq!(got.held.len(), 5);
    assert_eq!(got.held_reason.as_deref(), Some("the read is incomplete"));
}

#[test]
fn an_incomplete_read_is_reported_even_when_nothing_would_be_removed() {
    let (_, _, workspace) = incomplete_read();
    let policy = Policy {
        deprovision: Deprovision::Deactivate,
        hold_removals: Some("the read is incomplete".into()),
        ..Policy::default()
    };
    let got = plan(
        &desired(&["a@c.com", "b@c.com", SP_A]),
        &[],
        &workspace,
        &policy,
    );
    assert!(got.actions.is_empty() && got.held.is_empty(), "{got:?}");
    assert_eq!(got.held_reason.as_deref(), Some("the read is incomplete"));
}

#[test]
fn a_count_that_disagrees_makes_the_same_removals_wait_without_failing_and_a_missing_permission_wins()
 {
    let (want, wanted, workspace) = incomplete_read();
    let remove = Policy {
        deprovision: Deprovision::Remove,
        allow_deprovision: true,
        ..Policy::default()
    };
    let waiting = Policy {
        wait_removals: Some("the count disagrees".into()),
        ..remove.clone()
    };
    let got = plan(&want, &wanted, &workspace, &waiting);
    let held = Policy {
        hold_removals: Some("the count disagrees".into()),
        ..remove
    };
    let same = plan(&want, &wanted, &workspace, &held);
    assert_eq!((&got.actions, &got.held), (&same.actions, &same.held));
    assert_eq!(got.held.len(), 5);
    assert_eq!(got.held_reason.as_deref(), Some("the count disagrees"));
    assert!(got.held_to_wait && !same.held_to_wait);

    let both = Policy {
        hold_removals: Some("the read is incomplete".into()),
        ..waiting
    };
    let got = plan(&want, &wanted, &workspace, &both);
    assert_eq!(got.held_reason.as_deref(), Some("the read is incomplete"));
    assert!(
        !got.held_to_wait,
        "a missing permission fails the workspace"
    );

    // Over the limit as well: that hold still fails the workspace, and both reasons are given.
    let over = Policy {
        max_deprovision: MaxDeprovision::Count(1),
        allow_deprovision: false,
        wait_removals: Some("the count disagrees".into()),
        ..Policy::default()
    };
    let over = Policy {
        deprovision: Deprovision::Remove,
        ..over
    };
    let got = plan(&want, &wanted, &workspace, &over);
    assert_eq!(got.held.len(), 5);
    assert!(!got.held_to_wait);
    let reason = got.held_reason.unwrap();
    assert!(
        reason.starts_with("deprovisioning held: 2 of the")
            && reason.ends_with("; the count disagrees"),
        "{reason}"
    );
}

/// Two managed users who left (u1, u2; u2 an admin through a group nested in `admins`, which the plan
/// knows only once it is read), one who stays (keep) and a newcomer (new) to add.
fn nested_admin_case(admins: Admins, protected: &[&str]) -> (Principals, Current) {
    let mut current = current(
        vec![
            user("u1", "u1@c.com", true),
            user("u2", "u2@c.com", true),
            user("k", "keep@c.com", true),
        ],
        Some(&["u1", "u2", "k"]),
        protected,
    );
    current.admins = admins;
    (desired(&["keep@c.com", "new@c.com"]), current)
}

fn nested() -> Admins {
    Admins::Nested(vec![crate::sync::admins::Route {
        id: "g".into(),
        path: vec!["leads".into()],
    }])
}

#[test]
fn groups_nested_in_admins_not_read_yet_hold_every_deprovisioning_and_ask_for_the_read() {
    let policy = Policy {
        deprovision: Deprovision::Deactivate,
        max_deprovision: MaxDeprovision::Count(10),
        allow_deprovision: true,
        ..Policy::default()
    };
    let (desired, current) = nested_admin_case(nested(), &[]);
    let got = plan(&desired, &[], &current, &policy);
    assert!(got.awaits_admins);
    assert_eq!(
        got.held,
        [deactivate("u1", "u1@c.com"), deactivate("u2", "u2@c.com")]
    );
    assert_eq!(
        got.held_reason.as_deref(),
        Some("deprovisioning held: the 1 group(s) nested in admins are not read yet")
    );
    assert_eq!(
        got.actions,
        [create("new@c.com"), mark(&[], 1)],
        "additions go ahead"
    );

    // Once read: u2 is an admin; only u1 goes.
    let (desired, current) = nested_admin_case(Admins::Known, &["u2"]);
    let got = plan(&desired, &[], &current, &policy);
    assert!(!got.awaits_admins && got.held.is_empty() && got.held_reason.is_none());
    assert_eq!(
        got.actions,
        [
            create("new@c.com"),
            mark(&[], 1),
            deactivate("u1", "u1@c.com")
        ]
    );
}

#[test]
fn nothing_to_deprovision_needs_no_read_of_admins_and_holds_nothing() {
    let policy = policy(Deprovision::Remove, MaxDeprovision::Count(10));
    let (_, current) = nested_admin_case(nested(), &[]);
    let got = plan(
        &desired(&["u1@c.com", "u2@c.com", "keep@c.com"]),
        &[],
        &current,
        &policy,
    );
    assert!(!got.awaits_admins, "{got:?}");
    assert!(got.held.is_empty() && got.held_reason.is_none() && got.actions.is_empty());
    // Only protected principals left: nothing to deprovision either.
    let (_, current) = nested_admin_case(nested(), &["u1", "u2"]);
    let got = plan(&desired(&["keep@c.com"]), &[], &current, &policy);
    assert!(
        !got.awaits_admins && got.held.is_empty() && got.actions.is_empty(),
        "{got:?}"
    );
}

#[test]
fn admins_that_cannot_be_established_hold_every_deprovisioning_even_confirmed_and_say_why() {
    let policy = Policy {
        deprovision: Deprovision::Remove,
        max_deprovision: MaxDeprovision::Count(1),
        allow_deprovision: true,
        ..Policy::default()
    };
    let why = "the group \"platform\" (id 9) in admins cannot be read";
    let (desired, current) = nested_admin_case(Admins::Unknown(why.into()), &[]);
    let got = plan(&desired, &[], &current, &policy);
    assert!(!got.awaits_admins);
    assert_eq!(
        got.held,
        [remove("u1", "u1@c.com"), remove("u2", "u2@c.com")]
    );
    assert_eq!(
        got.held_reason.unwrap(),
        format!(
            "deprovisioning held: who is a workspace admin cannot be established, so none of the 2 \
             principal(s) who would be deprovisioned is: {why}"
        )
    );
    assert_eq!(
        got.actions,
        [create("new@c.com"), mark(&[], 1)],
        "additions go ahead"
    );
}
