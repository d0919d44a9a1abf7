//! Admins by any route: direct members, nested workspace groups (cycles, depth, size), and every way
//! of not knowing (account group, unreadable group, unknown kind, no `meta.resourceType`).

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;

fn member(id: &str, kind: MemberKind) -> GroupMember {
    GroupMember {
        id: id.into(),
        kind,
        display: Some(format!("n{id}")),
    }
}

fn group(id: &str, resource_type: Option<&str>, members: &[(&str, MemberKind)]) -> ClassifiedGroup {
    ClassifiedGroup {
        id: id.into(),
        display_name: Some(format!("n{id}")),
        members: members.iter().map(|(m, k)| member(m, *k)).collect(),
        resource_type: resource_type.map(str::to_owned),
    }
}

fn workspace_group(id: &str, members: &[(&str, MemberKind)]) -> ClassifiedGroup {
    group(id, Some("WorkspaceGroup"), members)
}

/// A workspace's groups by id, read through [`expand`], counting the reads.
struct Groups {
    by_id: HashMap<String, Result<ClassifiedGroup, String>>,
    reads: RefCell<Vec<String>>,
}

impl Groups {
    fn new(groups: Vec<ClassifiedGroup>) -> Groups {
        Groups {
            by_id: groups
                .into_iter()
                .map(|g| (g.id.to_string(), Ok(g)))
                .collect(),
            reads: RefCell::default(),
        }
    }

    fn failing(mut self, id: &str, error: &str) -> Groups {
        self.by_id.insert(id.into(), Err(error.into()));
        self
    }

    async fn expand(&self, admins: &ClassifiedGroup, listed: &[&str]) -> (Vec<String>, Admins) {
        self.reads.borrow_mut().clear();
        let listed = |id: &str| listed.contains(&id);
        let (mut protected, state) = direct(admins, &listed);
        let Admins::Nested(nested) = state else {
            return (sorted(protected), state);
        };
        let found = expand(nested, &listed, |id: ScimId| {
            self.reads.borrow_mut().push(id.to_string());
            let answer = self
                .by_id
                .get(id.as_str())
                .cloned()
                .unwrap_or_else(|| Err(format!("HTTP 404: Group with id {id} not found.")));
            async move { answer }
        })
        .await;
        assert_eq!(found.read, self.reads.borrow().len());
        protected.extend(found.protected);
        (sorted(protected), found.admins)
    }
}

fn sorted(ids: Vec<ScimId>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn unknown(admins: &Admins) -> &str {
    match admins {
        Admins::Unknown(why) => why,
        other => panic!("expected unknown admins, got {other:?}"),
    }
}

use MemberKind::{Group as G, ServicePrincipal as SP, Unknown as U, User};

#[tokio::test]
async fn admins_of_users_only_is_known_at_once_and_reads_nothing() {
    let groups = Groups::new(vec![]);
    let admins = workspace_group("1", &[("2", User), ("3", SP)]);
    let (protected, state) = groups.expand(&admins, &[]).await;
    assert_eq!(protected, ["2", "3"]);
    assert_eq!(state, Admins::Known);
    assert!(groups.reads.borrow().is_empty());
}

#[tokio::test]
async fn members_of_nested_workspace_groups_are_admins_and_a_cycle_is_read_once() {
    let groups = Groups::new(vec![
        workspace_group("10", &[("11", User), ("20", G)]),
        workspace_group("20", &[("21", User), ("10", G), ("22", SP)]),
    ]);
    let admins = workspace_group("1", &[("2", User), ("10", G)]);
    let (protected, state) = groups.expand(&admins, &[]).await;
    assert_eq!(state, Admins::Known);
    assert_eq!(protected, ["10", "11", "2", "20", "21", "22"]);
    assert_eq!(*groups.reads.borrow(), ["10", "20"], "each group read once");
}

#[tokio::test]
async fn a_member_of_unknown_kind_is_an_admin_when_listed_and_makes_admins_unknown_otherwise() {
    let groups = Groups::new(vec![workspace_group("10", &[("11", U)])]);
    let admins = workspace_group("1", &[("2", U), ("10", G)]);
    let (protected, state) = groups.expand(&admins, &["2", "11"]).await;
    assert_eq!(
        (protected, state),
        (vec!["10".into(), "11".into(), "2".into()], Admins::Known)
    );

    let (_, state) = groups.expand(&admins, &["11"]).await;
    let why = unknown(&state);
    assert!(
        why.starts_with("admins has a member \"n2\" (id 2) whose kind the workspace does not say"),
        "{why}"
    );
    let (_, state) = groups.expand(&admins, &["2"]).await;
    let why = unknown(&state);
    assert!(
        why.starts_with("the group \"n10\" (id 10) in admins has a member \"n11\" (id 11)"),
        "{why}"
    );
}

#[tokio::test]
async fn a_group_that_cannot_be_read_or_is_an_account_group_makes_admins_unknown_naming_it() {
    let admins = workspace_group("1", &[("2", User), ("10", G)]);
    // 404: an account group the workspace API does not serve.
    let groups = Groups::new(vec![workspace_group("10", &[("30", G)])]);
    let (protected, state) = groups.expand(&admins, &[]).await;
    let why = unknown(&state);
    assert_eq!(
        why,
        "the group \"n30\" (id 30) in admins through \"n10\" > \"n30\" cannot be read through the \
         workspace API (an account group, which workspace-level SCIM does not serve, or a group gone \
         since): HTTP 404: Group with id 30 not found."
    );
    assert!(
        protected.contains(&"2".to_owned()),
        "the direct admins stay protected"
    );

    let failing = Groups::new(vec![]).failing("10", "HTTP 500: boom");
    let (_, state) = failing.expand(&admins, &[]).await;
    assert!(unknown(&state).ends_with("HTTP 500: boom"));

    for (kind, says) in [
        (
            Some("Group"),
            "is an account group (meta.resourceType \"Group\")",
        ),
        (
            Some("Team"),
            "has meta.resourceType \"Team\", not \"WorkspaceGroup\"",
        ),
        (None, "was read without meta.resourceType"),
    ] {
        let groups = Groups::new(vec![group("10", kind, &[("11", User)])]);
        let (protected, state) = groups.expand(&admins, &[]).await;
        let why = unknown(&state);
        assert!(
            why.starts_with("the group \"n10\" (id 10) in admins "),
            "{why}"
        );
        assert!(why.contains(says), "{why}");
        assert!(
            !protected.contains(&"11".to_owned()),
            "an untrusted group's members are not taken"
        );
    }
}

/// A chain of groups `10 → 11 → …`, `depth` long below admins, the last holding user 99.
fn chain(depth: usize) -> (ClassifiedGroup, Groups) {
    let ids: Vec<String> = (0..depth).map(|i| (10 + i).to_string()).collect();
    let groups = (0..depth)
        .map(|i| match ids.get(i + 1) {
            Some(next) => workspace_group(&ids[i], &[(next, G)]),
            None => workspace_group(&ids[i], &[("99", User)]),
        })
        .collect();
    (workspace_group("1", &[(&ids[0], G)]), Groups::new(groups))
}

#[tokio::test]
async fn nesting_is_followed_to_the_documented_ten_levels_and_deeper_is_unknown() {
    let (admins, groups) = chain(MAX_NESTING);
    let (protected, state) = groups.expand(&admins, &[]).await;
    assert_eq!(state, Admins::Known);
    assert!(protected.contains(&"99".to_owned()));
    assert_eq!(groups.reads.borrow().len(), MAX_NESTING);

    let (admins, groups) = chain(MAX_NESTING + 1);
    let (protected, state) = groups.expand(&admins, &[]).await;
    let why = unknown(&state);
    assert!(
        why.contains("(id 20) in admins through \"n10\" > "),
        "{why}"
    );
    assert!(why.ends_with("is nested more than 10 levels below admins (the documented limit): its members are not read"), "{why}");
    assert!(!protected.contains(&"99".to_owned()));
    assert_eq!(
        groups.reads.borrow().len(),
        MAX_NESTING,
        "the 11th level is not read"
    );
}

#[tokio::test]
async fn more_groups_than_the_cap_are_not_read_and_make_admins_unknown() {
    let many: Vec<(String, MemberKind)> = (0..=MAX_GROUPS)
        .map(|i| ((1000 + i).to_string(), G))
        .collect();
    let members: Vec<(&str, MemberKind)> = many.iter().map(|(id, k)| (id.as_str(), *k)).collect();
    let admins = workspace_group("1", &members);
    let groups = Groups::new(vec![]);
    let (_, state) = groups.expand(&admins, &[]).await;
    assert!(unknown(&state).starts_with("more than 100 groups are nested in admins"));
    assert!(groups.reads.borrow().is_empty());
}

#[tokio::test]
async fn at_the_account_any_group_shows_its_members_and_an_unreadable_one_is_said_as_such() {
    let routes = || {
        vec![Route {
            id: "10".into(),
            path: vec!["account admins".to_owned(), "platform".to_owned()],
        }]
    };
    let listed = |_: &str| false;
    // An account group (resource type "Group") and one with none: both taken at the account.
    let groups: HashMap<&str, ClassifiedGroup> = HashMap::from([
        (
            "10",
            group(
                "10",
                Some("Group"),
                &[("1", MemberKind::User), ("11", MemberKind::Group)],
            ),
        ),
        (
            "11",
            group("11", None, &[("2", MemberKind::ServicePrincipal)]),
        ),
    ]);
    let read = |id: ScimId| {
        let answer = groups
            .get(id.as_str())
            .cloned()
            .ok_or("HTTP 500".to_owned());
        async move { answer }
    };
    let found = expand_at(GroupsAt::Account, routes(), &listed, read).await;
    assert_eq!(found.admins, Admins::Known);
    assert_eq!(sorted(found.protected), ["1", "11", "2"]);

    let failing = |_: ScimId| async { Err::<ClassifiedGroup, _>("HTTP 503: try later") };
    let found = expand_at(GroupsAt::Account, routes(), &listed, failing).await;
    let Admins::Unknown(why) = found.admins else {
        panic!("{:?}", found.admins)
    };
    assert_eq!(
        why,
        "the group \"platform\" (id 10) in admins through \"account admins\" > \"platform\" cannot \
         be read: HTTP 503: try later"
    );
}
