//! The plan's table of cases, and "apply, then plan again: nothing to do".

use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::databricks::{ScimServicePrincipal, ScimUser};
use crate::sync::desired::{AppId, UserName};

fn desired(names: &[&str]) -> Principals {
    names
        .iter()
        .map(|n| (key(n), Identity::new(EntraId::nil(), &format!("D {n}"))))
        .collect()
}

/// A user name, or a service principal's application id (a GUID).
fn key(n: &str) -> Principal {
    match AppId::parse(n) {
        Some(id) => Principal::ServicePrincipal(id),
        None => Principal::User(UserName::parse(n).unwrap()),
    }
}

fn user(id: &str, name: &str, active: bool) -> ScimUser {
    ScimUser {
        id: id.into(),
        user_name: name.into(),
        active,
        external_id: ExternalId::ABSENT,
        account_admin: false,
    }
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
        account_admin: false,
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
        hands_off: HashSet::new(),
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

/// What a workspace looks like after the plan's changes succeed, phase by phase.
fn apply(before: &Current, plan: &Plan) -> Current {
    let mut after = before.clone();
    for (i, change) in plan.principals.iter().enumerate() {
        apply_principal(&mut after, &format!("new{i}"), change);
    }
    if let Some(marking) = &plan.marker {
        apply_marking(&mut after, marking, &plan.principals);
    }
    for change in &plan.groups {
        apply_group(&mut after, change);
    }
    for leaving in &plan.deprovisioning {
        match leaving.leave {
            Leave::Deactivate => set_active(&mut after, &leaving.id, false),
            Leave::Remove => {
                after.users.retain(|u| u.id != leaving.id);
                after.service_principals.retain(|u| u.id != leaving.id);
                if let Some(m) = after.marker_members.as_mut() {
                    m.remove(&leaving.id);
                }
            }
        }
    }
    after
}

fn apply_principal(after: &mut Current, new_id: &str, change: &PrincipalChange) {
    match change {
        PrincipalChange::Create { principal, .. } => match principal {
            Principal::User(n) => after.users.push(user(new_id, n.as_str(), true)),
            Principal::ServicePrincipal(app) => {
                (after.service_principals).push(sp(new_id, app.as_str(), true))
            }
        },
        PrincipalChange::Activate { id, .. } => set_active(after, id, true),
    }
}

fn apply_marking(after: &mut Current, marking: &Marking, changes: &[PrincipalChange]) {
    let created = changes.iter().filter_map(|c| match c {
        PrincipalChange::Create { principal, .. } => Some(principal),
        PrincipalChange::Activate { .. } => None,
    });
    assert_eq!(created.clone().count(), marking.created);
    assert_eq!(marking.create, after.marker_members.is_none());
    let mut marker = after.marker_members.clone().unwrap_or_default();
    for member in marking.listed.iter().chain(created) {
        marker.insert(after.lookup().get(member).unwrap().id.clone());
    }
    after.marker_members = Some(marker);
}

fn apply_group(after: &mut Current, change: &GroupChange) {
    match change {
        GroupChange::Create { group } => {
            after.groups.insert(group.clone(), GroupState::default());
        }
        GroupChange::Add { group, members } => {
            for member in members {
                let id = after.lookup().get(member).unwrap().id.clone();
                after.groups.get_mut(group).unwrap().members.insert(id);
            }
        }
        GroupChange::Remove(removal) => {
            let Removal { group, id, .. } = &**removal;
            after.groups.get_mut(group).unwrap().members.remove(id);
        }
        GroupChange::AddEntitlements {
            group,
            entitlements,
        } => {
            let g = after.groups.get_mut(group).unwrap();
            g.entitlements.extend(entitlements.iter().cloned());
        }
    }
}

fn set_active(current: &mut Current, id: &str, active: bool) {
    for u in current.users.iter_mut().filter(|u| u.id == id) {
        u.active = active;
    }
    let sps = current.service_principals.iter_mut();
    for sp in sps.filter(|sp| sp.id == id) {
        sp.active = active;
    }
}

fn create(n: &str) -> PrincipalChange {
    PrincipalChange::Create {
        principal: key(n),
        identity: Identity::new(EntraId::nil(), &format!("D {n}")),
    }
}
fn activate(id: &str, n: &str) -> PrincipalChange {
    PrincipalChange::Activate {
        id: id.into(),
        principal: key(n),
    }
}
/// The marker group's additions; `created` principals counted, the group existing already.
fn mark(listed: &[&str], created: usize) -> Marking {
    Marking {
        group: MARKER.into(),
        create: false,
        listed: listed.iter().map(|n| key(n)).collect(),
        created,
    }
}
/// As [`mark`], the group created first.
fn mark_new(listed: &[&str], created: usize) -> Marking {
    Marking {
        create: true,
        ..mark(listed, created)
    }
}
fn leave(leave: Leave, id: &str, n: &str) -> Deprovisioning {
    Deprovisioning {
        leave,
        id: id.into(),
        principal: key(n),
    }
}
fn deactivate(id: &str, n: &str) -> Deprovisioning {
    leave(Leave::Deactivate, id, n)
}
fn remove(id: &str, n: &str) -> Deprovisioning {
    leave(Leave::Remove, id, n)
}

/// The changes a plan makes, phase by phase (what is held apart).
#[derive(Debug, Default, PartialEq)]
struct Changes {
    principals: Vec<PrincipalChange>,
    marker: Option<Marking>,
    groups: Vec<GroupChange>,
    deprovisioning: Vec<Deprovisioning>,
}

impl Changes {
    fn of(plan: &Plan) -> Changes {
        Changes {
            principals: plan.principals.clone(),
            marker: plan.marker.clone(),
            groups: plan.groups.clone(),
            deprovisioning: plan.deprovisioning.clone(),
        }
    }
}

/// One expected change, of any phase.
enum Change {
    Principal(PrincipalChange),
    Marker(Marking),
    Leave(Deprovisioning),
}

impl FromIterator<Change> for Changes {
    fn from_iter<I: IntoIterator<Item = Change>>(changes: I) -> Self {
        let mut all = Changes::default();
        for change in changes {
            match change {
                Change::Principal(change) => all.principals.push(change),
                Change::Marker(marking) => all.marker = Some(marking),
                Change::Leave(leaving) => all.deprovisioning.push(leaving),
            }
        }
        all
    }
}

/// `changes![create("a@c.com"), mark(&[], 1)]`: the expected changes, in plan order.
macro_rules! changes {
    ($($change:expr),* $(,)?) => {
        [$(Change::from($change)),*].into_iter().collect::<Changes>()
    };
}

impl From<PrincipalChange> for Change {
    fn from(change: PrincipalChange) -> Self {
        Change::Principal(change)
    }
}
impl From<Marking> for Change {
    fn from(marking: Marking) -> Self {
        Change::Marker(marking)
    }
}
impl From<Deprovisioning> for Change {
    fn from(leaving: Deprovisioning) -> Self {
        Change::Leave(leaving)
    }
}

/// A case of the table: a workspace, what is wanted in it and under which policy, and what the plan
/// must be: its changes, how many desired principals need none, and how many deprovisionings wait.
struct Case {
    what: &'static str,
    desired: &'static [&'static str],
    current: Current,
    policy: Policy,
    expect: (Changes, u64, usize),
}

fn keep() -> Policy {
    policy(Deprovision::None, MaxDeprovision::Default)
}

fn deact(max: MaxDeprovision) -> Policy {
    policy(Deprovision::Deactivate, max)
}

fn additions() -> Vec<Case> {
    let one_marked = current(vec![user("1", "A@C.com", true)], Some(&["1"]), &[]);
    vec![
        Case {
            what: "empty workspace: create, then mark, creating the marker group",
            desired: &["a@c.com", "b@c.com"],
            current: current(vec![], None, &[]),
            policy: keep(),
            expect: (
                changes![create("a@c.com"), create("b@c.com"), mark_new(&[], 2)],
                0,
                0,
            ),
        },
        Case {
            what: "nothing wanted, nothing marked: nothing to do",
            desired: &[],
            current: current(vec![user("1", "x@c.com", true)], None, &[]),
            policy: deact(MaxDeprovision::Default),
            expect: (changes![], 0, 0),
        },
        Case {
            what: "present with another case and already marked",
            desired: &["a@c.com"],
            policy: keep(),
            current: one_marked,
            expect: (changes![], 1, 0),
        },
        Case {
            what: "present but not marked yet: adopted into the marker group",
            current: current(vec![user("1", "a@c.com", true)], Some(&[]), &[]),
            desired: &["a@c.com"],
            policy: keep(),
            expect: (changes![mark(&["a@c.com"], 0)], 1, 0),
        },
        Case {
            what: "inactive and wanted: reactivated",
            expect: (changes![activate("1", "a@c.com")], 0, 0),
            desired: &["a@c.com"],
            current: current(vec![user("1", "a@c.com", false)], Some(&["1"]), &[]),
            policy: deact(MaxDeprovision::Default),
        },
    ]
}

fn leavers() -> Vec<Case> {
    let staying_and_leaving = vec![user("1", "a@c.com", true), user("2", "z@c.com", true)];
    let all_kinds = vec![
        user("1", "a@c.com", true),
        user("2", "left@c.com", true),
        user("3", "handmade@c.com", true),
        user("4", "admin@c.com", true),
        user("5", "gone@c.com", false),
    ];
    let active_and_not = vec![
        user("2", "left@c.com", true),
        user("5", "gone@c.com", false),
    ];
    vec![
        Case {
            what: "deprovision none: leavers are left alone",
            desired: &["a@c.com"],
            current: current(staying_and_leaving, Some(&["1", "2"]), &[]),
            policy: keep(),
            expect: (changes![], 1, 0),
        },
        Case {
            what: "deactivate: a managed leaver is deactivated; unmanaged, protected and already inactive ones are not",
            desired: &["a@c.com"],
            current: current(all_kinds, Some(&["1", "2", "4", "5"]), &["4"]),
            policy: deact(MaxDeprovision::Count(5)),
            expect: (changes![deactivate("2", "left@c.com")], 1, 0),
        },
        Case {
            what: "remove: managed leavers are removed, inactive ones too",
            desired: &[],
            current: current(active_and_not, Some(&["2", "5"]), &[]),
            policy: policy(Deprovision::Remove, MaxDeprovision::Count(5)),
            expect: (
                changes![remove("2", "left@c.com"), remove("5", "gone@c.com")],
                0,
                0,
            ),
        },
    ]
}

fn three_leavers() -> Current {
    let users = (1..=3).map(|i| user(&i.to_string(), &format!("l{i}@c.com"), true));
    current(users.collect(), Some(&["1", "2", "3"]), &[])
}

fn limits() -> Vec<Case> {
    let ten = (0..10).map(|i| user(&i.to_string(), &format!("u{i}@c.com"), true));
    let ten_marked = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let two = vec![user("1", "l1@c.com", true), user("2", "l2@c.com", true)];
    vec![
        Case {
            what: "beyond the limit: every deprovisioning is held, the rest goes on",
            desired: &["new@c.com"],
            current: three_leavers(),
            policy: deact(MaxDeprovision::Count(2)),
            expect: (changes![create("new@c.com"), mark(&[], 1)], 0, 3),
        },
        Case {
            what: "beyond the limit but confirmed: applied",
            desired: &[],
            current: current(two, Some(&["1", "2"]), &[]),
            policy: Policy {
                allow_deprovision: true,
                ..deact(MaxDeprovision::Count(1))
            },
            expect: (
                changes![deactivate("1", "l1@c.com"), deactivate("2", "l2@c.com")],
                0,
                0,
            ),
        },
        Case {
            what: "a percentage of the managed users",
            desired: &[],
            current: current(ten.collect(), Some(&ten_marked), &[]),
            policy: deact(MaxDeprovision::Percent(50.0)),
            expect: (changes![], 0, 10),
        },
    ]
}

fn service_principals() -> Vec<Case> {
    let marked = ["1", "s2", "s9", "s8"];
    let listed = vec![
        sp("s2", SP_B, false),
        sp("s9", SP_GONE, true),
        sp("s8", "not-a-guid", true),
    ];
    let upper = vec![sp("s1", &SP_A.to_uppercase(), true)];
    vec![
        Case {
            what: "service principals: created, reactivated, marked like users; a managed one who left is deactivated",
            desired: &[SP_A, SP_B, "a@c.com"],
            current: Current {
                service_principals: listed,
                ..current(vec![user("1", "a@c.com", true)], Some(&marked), &[])
            },
            policy: deact(MaxDeprovision::Count(5)),
            expect: (
                changes![
                    create(SP_A),
                    activate("s2", SP_B),
                    mark(&[], 1),
                    deactivate("s9", SP_GONE),
                ],
                1,
                0,
            ),
        },
        Case {
            what: "an application id in another case is the same service principal",
            desired: &[SP_A],
            current: Current {
                service_principals: upper,
                ..current(vec![], Some(&["s1"]), &[])
            },
            policy: policy(Deprovision::Remove, MaxDeprovision::Count(5)),
            expect: (changes![], 1, 0),
        },
    ]
}

fn cases() -> impl Iterator<Item = Case> {
    let tables = [additions(), leavers(), limits(), service_principals()];
    tables.into_iter().flatten()
}

const SP_A: &str = "0b7c7f3e-8a4e-4c2a-9d7e-1f0e2d3c4b5a";
const SP_B: &str = "1c8d8a4f-9b5f-4d3b-8e8f-2a1f3e4d5c6b";
const SP_GONE: &str = "2d9e9b5a-ac6a-4e4c-9f9a-3b2a4f5e6d7c";

fn held(plan: &Plan) -> usize {
    plan.held.as_ref().map_or(0, |held| held.actions().count())
}

#[test]
fn table_of_cases() {
    for case in cases() {
        let got = plan(&desired(case.desired), &[], &case.current, &case.policy);
        let (changes, existing, held_count) = case.expect;
        assert_eq!(Changes::of(&got), changes, "{}", case.what);
        assert_eq!(got.existing, existing, "{}", case.what);
        assert_eq!(held(&got), held_count, "{}", case.what);
        assert_eq!(got.held.is_some(), held_count > 0, "{}", case.what);
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
            again.actions().next().is_none() && again.held.is_none(),
            "{}: {:?}",
            case.what,
            again
        );
    }
}

/// Why the plan holds changes, if it does.
fn reason(plan: &Plan) -> Option<&str> {
    plan.held.as_ref().map(|held| held.reason.as_str())
}

/// The changes as a report lists them: `kind target`.
fn shown<'a>(actions: impl Iterator<Item = Action<'a>>) -> Vec<String> {
    actions
        .map(|a| format!("{} {}", a.kind(), a.target()))
        .collect()
}

fn nothing_to_do(plan: &Plan) -> bool {
    plan.actions().next().is_none()
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
    let reason = reason(&got).unwrap();
    assert!(reason.starts_with("deprovisioning held: 2 of the 2 managed principals would be deprovisioned, more than the limit of 1"), "{reason}");
    assert!(reason.contains("\"allowDeprovision\": true"), "{reason}");
    assert_eq!(got.held.unwrap().effect, HoldEffect::Fails);
}

fn data_science(members: &[&str]) -> DesiredGroup {
    DesiredGroup {
        name: "Data-Science".into(),
        members: members.iter().map(|n| key(n)).collect(),
        entitlements: vec!["workspace-access".into()],
    }
}

fn three_marked() -> Current {
    let users = vec![
        user("1", "a@c.com", true),
        user("2", "b@c.com", true),
        user("3", "gone@c.com", true),
    ];
    current(users, Some(&["1", "2", "3"]), &[])
}

/// Plans, checks the plan's changes (`kind target`), applies it, and checks that nothing is left.
fn plan_apply_replan(want: &[&str], groups: &[DesiredGroup], before: &Current, expect: &[&str]) {
    let (want, policy) = (desired(want), Policy::default());
    let got = plan(&want, groups, before, &policy);
    assert_eq!(shown(got.actions()), expect);
    let after = apply(before, &got);
    assert!(nothing_to_do(&plan(&want, groups, &after, &policy)));
}

#[test]
fn a_missing_mirrored_group_is_created_with_its_entitlements_and_members() {
    plan_apply_replan(
        &["a@c.com", "b@c.com", "new@c.com"],
        &[data_science(&["a@c.com", "new@c.com"])],
        &three_marked(),
        &[
            "createUser new@c.com",
            "addToGroup entra-sync-managed",
            "createGroup Data-Science",
            "addEntitlements Data-Science",
            "addToGroup Data-Science",
        ],
    );
}

#[test]
fn an_existing_mirrored_group_gains_who_is_missing_loses_who_left_and_keeps_its_entitlement() {
    let mut workspace = three_marked();
    workspace.groups.insert(
        "Data-Science".into(),
        GroupState {
            id: "g".into(),
            members: ids(&["1", "3"]).into_iter().collect(),
            entitlements: vec!["workspace-access".into()],
        },
    );
    let wanted = [data_science(&["a@c.com", "b@c.com"])];
    let got = plan(
        &desired(&["a@c.com", "b@c.com"]),
        &wanted,
        &workspace,
        &Policy::default(),
    );
    let add = GroupChange::Add {
        group: "Data-Science".into(),
        members: vec![key("b@c.com")],
    };
    let remove = GroupChange::Remove(Box::new(Removal {
        group: "Data-Science".into(),
        id: "3".into(),
        member: key("gone@c.com"),
    }));
    assert_eq!(got.groups, [add, remove]);
    plan_apply_replan(
        &["a@c.com", "b@c.com"],
        &wanted,
        &workspace,
        &[
            "addToGroup Data-Science",
            "removeFromGroup Data-Science: gone@c.com",
        ],
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
            members: ids(&["1", "s2", "nested-group"]).into_iter().collect(),
            entitlements: vec![],
        },
    );
    let want = desired(&[SP_A, "a@c.com"]);
    let got = plan(&want, &wanted, &workspace, &Policy::default());
    assert_eq!(
        shown(got.actions()),
        [
            "addToGroup Jobs".to_owned(),
            format!("removeFromGroup Jobs: {SP_B}")
        ]
    );
    let GroupChange::Remove(removal) = &got.groups[1] else {
        panic!("{got:?}")
    };
    assert_eq!((removal.id.as_str(), &removal.member), ("s2", &key(SP_B)));
    let after = apply(&workspace, &got);
    assert!(nothing_to_do(&plan(
        &want,
        &wanted,
        &after,
        &Policy::default()
    )));
    assert!(after.groups["Jobs"].members.contains("nested-group"));
}

#[test]
fn principal_actions_say_which_kind_of_principal() {
    let (created, activated) = (create(SP_A), activate("s", SP_A));
    let (deactivated, removed) = (deactivate("s", SP_A), remove("s", SP_A));
    let kinds: Vec<ActionKind> = [
        Action::Principal(&created),
        Action::Principal(&activated),
        Action::Deprovision(&deactivated),
        Action::Deprovision(&removed),
    ]
    .into_iter()
    .map(Action::kind)
    .collect();
    assert_eq!(
        kinds,
        [
            ActionKind::CreateServicePrincipal,
            ActionKind::ActivateServicePrincipal,
            ActionKind::DeactivateServicePrincipal,
            ActionKind::RemoveServicePrincipal
        ]
    );
    assert_eq!(create("a@c.com").kind(), ActionKind::CreateUser);
}

#[test]
fn the_changes_a_first_sync_plans_one_per_principal_stay_small() {
    assert!(std::mem::size_of::<PrincipalChange>() <= 56);
    assert!(std::mem::size_of::<Deprovisioning>() <= 56);
    assert!(std::mem::size_of::<GroupChange>() <= 56);
    assert!(std::mem::size_of::<Action<'_>>() <= 56);
}

#[test]
fn a_desired_principal_is_a_key_and_a_pointer_to_its_shared_identity() {
    // 56 bytes with the display name and object id inline: at 100,000 users in 5 workspaces, 7 MiB.
    // A creation is as small as a reactivation now (a workspace id and a key).
    assert!(std::mem::size_of::<(Principal, Identity)>() <= 32);
    assert!(std::mem::size_of::<crate::sync::desired::DesiredUser>() <= 32);
    assert!(std::mem::size_of::<PrincipalChange>() <= 48);
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

/// Desired users with their Entra object ids (1 to 5, and one unknown), and the workspace listing
/// them (but `new@c.com`) with an `externalId` that is theirs, another one's, text, or none.
fn external_ids_case() -> (Principals, Current) {
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
    .map(|(n, id)| (key(n), Identity::new(id, &format!("D {n}"))))
    .collect();
    let with = |mut u: ScimUser, id: ExternalId| {
        u.external_id = id;
        u
    };
    let users = vec![
        with(user("1", "same@c.com", true), ExternalId::of(&guid(1))),
        with(user("2", "other@c.com", true), ExternalId::of(&guid(9))),
        with(user("3", "text@c.com", true), ExternalId::OTHER),
        user("4", "none@c.com", true),
        with(user("6", "unknown@c.com", true), ExternalId::OTHER),
    ];
    (
        desired,
        current(users, Some(&["1", "2", "3", "4", "6"]), &[]),
    )
}

#[test]
fn an_external_id_that_is_not_the_entra_object_id_is_reported_never_changed() {
    let (desired, before) = external_ids_case();
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
    let created = PrincipalChange::Create {
        principal: key("new@c.com"),
        identity: Identity::new(EntraId::from_u128(5), "D new@c.com"),
    };
    assert_eq!(Changes::of(&plan), changes![created, mark(&[], 1)]);
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
            members: ids(&["1", "2", "s1"]).into_iter().collect(),
            entitlements: vec![],
        },
    );
    (desired(&["a@c.com", "new@c.com"]), wanted, workspace)
}

fn remove_all() -> Policy {
    Policy {
        deprovision: Deprovision::Remove,
        allow_deprovision: true,
        ..Policy::default()
    }
}

fn holding(reason: &str) -> Policy {
    Policy {
        hold_removals: RemovalHold::of(Some(reason.into()), None),
        ..remove_all()
    }
}

#[test]
fn an_incomplete_read_holds_every_removal_however_few_and_confirmed_and_lets_additions_through() {
    let (want, wanted, workspace) = incomplete_read();
    // Complete, the same state would lose two principals: well under the threshold of 5.
    let complete = plan(&want, &wanted, &workspace, &remove_all());
    assert_eq!(
        (complete.deprovisioning.len(), reason(&complete)),
        (2, None)
    );

    let got = plan(
        &want,
        &wanted,
        &workspace,
        &holding("the read is incomplete"),
    );
    assert_eq!(
        shown(got.actions()),
        [
            "createUser new@c.com",
            "addToGroup entra-sync-managed",
            "addToGroup Data-Science"
        ],
        "the additions go ahead"
    );
    let holds = got.held.as_ref().unwrap();
    assert_eq!(
        shown(holds.actions()),
        [
            "addEntitlements Data-Science",
            "removeFromGroup Data-Science: b@c.com",
            &format!("removeFromGroup Data-Science: {SP_A}"),
            "removeUser b@c.com",
            &format!("removeServicePrincipal {SP_A}"),
        ]
    );
    assert!(got.deprovisioning.is_empty());
    assert_eq!(
        (holds.reason.as_str(), holds.effect),
        ("the read is incomplete", HoldEffect::Fails)
    );

    // Over the limit as well: the incomplete read is the reason given, and every action still waits.
    let over = Policy {
        max_deprovision: MaxDeprovision::Count(1),
        allow_deprovision: false,
        ..holding("the read is incomplete")
    };
    let got = plan(&want, &wanted, &workspace, &over);
    assert_eq!(held(&got), 5);
    assert_eq!(reason(&got), Some("the read is incomplete"));
}

#[test]
fn an_incomplete_read_is_reported_even_when_nothing_would_be_removed() {
    let (_, _, workspace) = incomplete_read();
    let policy = Policy {
        deprovision: Deprovision::Deactivate,
        hold_removals: RemovalHold::of(Some("the read is incomplete".into()), None),
        ..Policy::default()
    };
    let want = desired(&["a@c.com", "b@c.com", SP_A]);
    let got = plan(&want, &[], &workspace, &policy);
    assert!(nothing_to_do(&got) && held(&got) == 0, "{got:?}");
    assert_eq!(reason(&got), Some("the read is incomplete"));
}

#[test]
fn a_count_that_disagrees_makes_the_same_removals_wait_without_failing() {
    let (want, wanted, workspace) = incomplete_read();
    let waiting = Policy {
        hold_removals: RemovalHold::of(None, Some("the count disagrees".into())),
        ..remove_all()
    };
    let got = plan(&want, &wanted, &workspace, &waiting);
    let same = plan(&want, &wanted, &workspace, &holding("the count disagrees"));
    assert_eq!(Changes::of(&got), Changes::of(&same));
    let (got, same) = (got.held.unwrap(), same.held.unwrap());
    assert_eq!(shown(got.actions()), shown(same.actions()));
    assert_eq!(shown(got.actions()).len(), 5);
    assert_eq!(got.reason, "the count disagrees");
    assert_eq!(
        (got.effect, same.effect),
        (HoldEffect::Waits, HoldEffect::Fails)
    );
}

#[test]
fn a_missing_permission_or_a_failing_hold_wins_over_a_count_that_disagrees() {
    let (want, wanted, workspace) = incomplete_read();
    let both = Policy {
        hold_removals: RemovalHold::of(
            Some("the read is incomplete".into()),
            Some("the count disagrees".into()),
        ),
        ..remove_all()
    };
    let got = plan(&want, &wanted, &workspace, &both).held.unwrap();
    assert_eq!(got.reason, "the read is incomplete");
    assert_eq!(
        got.effect,
        HoldEffect::Fails,
        "a missing permission fails the workspace"
    );

    // Over the limit as well: that hold still fails the workspace, and both reasons are given.
    let over = Policy {
        deprovision: Deprovision::Remove,
        max_deprovision: MaxDeprovision::Count(1),
        hold_removals: RemovalHold::of(None, Some("the count disagrees".into())),
        ..Policy::default()
    };
    let got = plan(&want, &wanted, &workspace, &over).held.unwrap();
    assert_eq!((got.actions().count(), got.effect), (5, HoldEffect::Fails));
    assert!(
        got.reason.starts_with("deprovisioning held: 2 of the")
            && got.reason.ends_with("; the count disagrees"),
        "{}",
        got.reason
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

/// A policy that deprovisions, for a run confirmed with `allowDeprovision`.
fn confirmed(deprovision: Deprovision, max: MaxDeprovision) -> Policy {
    Policy {
        allow_deprovision: true,
        ..policy(deprovision, max)
    }
}

/// What the plan holds in [`nested_admin_case`], checking that the additions go ahead.
fn held_with_additions(admins: Admins, policy: &Policy) -> Held {
    let (desired, current) = nested_admin_case(admins, &[]);
    let got = plan(&desired, &[], &current, policy);
    let additions = changes![create("new@c.com"), mark(&[], 1)];
    assert_eq!(Changes::of(&got), additions, "additions go ahead");
    got.held.unwrap()
}

#[test]
fn groups_nested_in_admins_not_read_yet_hold_every_deprovisioning_and_ask_for_the_read() {
    let policy = confirmed(Deprovision::Deactivate, MaxDeprovision::Count(10));
    let held = held_with_additions(nested(), &policy);
    assert!(held.awaits_admins);
    assert_eq!(
        held.deprovisioning,
        [deactivate("u1", "u1@c.com"), deactivate("u2", "u2@c.com")]
    );
    assert_eq!(
        held.reason,
        "deprovisioning held: the 1 group(s) nested in admins are not read yet"
    );

    // Once read: u2 is an admin; only u1 goes.
    let (desired, current) = nested_admin_case(Admins::Known, &["u2"]);
    let got = plan(&desired, &[], &current, &policy);
    assert!(!got.awaits_admins() && got.held.is_none());
    assert_eq!(
        Changes::of(&got),
        changes![
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
    assert!(!got.awaits_admins(), "{got:?}");
    assert!(got.held.is_none() && nothing_to_do(&got));
    // Only protected principals left: nothing to deprovision either.
    let (_, current) = nested_admin_case(nested(), &["u1", "u2"]);
    let got = plan(&desired(&["keep@c.com"]), &[], &current, &policy);
    assert!(got.held.is_none() && nothing_to_do(&got), "{got:?}");
}

#[test]
fn admins_that_cannot_be_established_hold_every_deprovisioning_even_confirmed_and_say_why() {
    let policy = confirmed(Deprovision::Remove, MaxDeprovision::Count(1));
    let why = "the group \"platform\" (id 9) in admins cannot be read";
    let held = held_with_additions(Admins::Unknown(why.into()), &policy);
    assert!(!held.awaits_admins);
    assert_eq!(
        held.deprovisioning,
        [remove("u1", "u1@c.com"), remove("u2", "u2@c.com")]
    );
    assert_eq!(
        held.reason,
        format!(
            "deprovisioning held: who is a workspace admin cannot be established, so none of the 2 \
             principal(s) who would be deprovisioned is: {why}"
        )
    );
}

#[test]
fn principals_another_provisioner_manages_are_never_reactivated_marked_or_deprovisioned() {
    // "a" is active and unmarked, "b" deactivated, "c" marked earlier but handed over since, "d" ours.
    let mut workspace = current(
        vec![
            user("1", "a@c.com", true),
            user("2", "b@c.com", false),
            user("3", "c@c.com", true),
            user("4", "d@c.com", false),
        ],
        Some(&["3"]),
        &[],
    );
    workspace.hands_off = ids(&["1", "2", "3"]);
    let policy = policy(Deprovision::Remove, MaxDeprovision::Count(10));
    let got = plan(
        &desired(&["a@c.com", "b@c.com", "d@c.com"]),
        &[],
        &workspace,
        &policy,
    );
    assert_eq!(
        got.principals,
        [PrincipalChange::Activate {
            id: "4".into(),
            principal: key("d@c.com"),
        }],
        "only d, which is ours, is reactivated"
    );
    assert!(
        got.deprovisioning.is_empty() && got.held.is_none(),
        "{got:?}"
    );
    let marking = got.marker.expect("d is marked");
    assert_eq!(marking.listed, [key("d@c.com")], "a and b are not marked");
}

#[test]
fn appended_members_are_merged_sorted_once_and_the_emptied_list_gives_its_buffer_back() {
    let list = |names: &[&str]| names.iter().map(|n| key(n)).collect::<Members>();
    let mut merged = Members::default();
    let mut first = list(&["b@x.com", "d@x.com"]);
    merged.append(&mut first);
    let mut second = list(&["a@x.com", "d@x.com", "c@x.com"]);
    merged.append(&mut second);
    let shown: Vec<String> = merged.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]);
    // The account's part keeps each workspace's emptied groups until it assigns: their buffers must go.
    assert!(first.is_empty() && second.is_empty());
    assert_eq!((first.0.capacity(), second.0.capacity()), (0, 0));
}
