//! The least a run in account mode (`identities: "account"`, every workspace with `mirrorGroups`) can
//! do, from the generated data and the account's state before the run, never from the handler's report.
//!
//! Writes, once for the whole account (not per workspace): one POST per distinct desired user not in
//! the account, one PATCH per desired user there but inactive, the marker group's POST when it is
//! missing and someone is to be marked, one PATCH per 50 users marked; each mirrored group (a group
//! shared by two workspaces is one account group) its POST when missing, one PATCH per 50 members it
//! gains and one per member it loses (the documented removal, `members[value eq "<id>"]`, is one
//! member); with deprovisioning, one PATCH per marked, active user no workspace wants. Then per
//! workspace: one PUT per mirrored group not assigned to it yet, each recorded first in the workspace's
//! record group `<managedGroup>-ws-<workspaceId>` (its POST when missing, one PATCH per 50 recorded).
//!
//! Reads: Graph as in workspace mode (per distinct Entra group, a look-up and one page per 999
//! members); three managed-identity tokens (Graph, Azure Databricks, Key Vault); per workspace its PAT
//! from Key Vault (and the vault's challenge once) and, over its own SCIM API, its own marker group (one filtered LIST: what it owned in
//! workspace mode) and its groups with their kinds and entitlements (one page: same-named
//! workspace-local groups, the mirrored groups' entitlements); at the account, the users one page per 100 (the documented
//! `count` maximum; at least one page: a listing ends at the page that reaches `totalResults`), each
//! group looked up by name (one filtered LIST) and, when found, read once more by id for its members
//! (the account's group LIST carries no `members`): the marker group, each mirrored group; per
//! workspace its assignments (one GET, not paged) and its record group (look-up, and read if found).
//! When someone is to be deprovisioned, who must never be is read first: the account's groups with
//! their roles (one page per 100), each workspace's own `admins` (one filtered LIST), and the
//! workspaces' assignments, read once for that and for the assignments.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::{Counts, Limits, Pace, WorkspaceState, changes, pages};

/// The account as it is before a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// Users by lower-cased name, the marker group's members, the account admins (never
    /// deprovisioned).
    pub principals: WorkspaceState,
    /// The account's groups by display name.
    pub groups: HashMap<String, GroupState>,
    /// Per workspace (in configuration order), the ids assigned to it, with any permission.
    pub assigned: Vec<HashSet<String>>,
}

/// An account group: its id and its members' ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    pub id: String,
    pub members: HashSet<String>,
}

/// One workspace in account mode: its mirrored groups (their account names) and its record group's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWorkspace {
    pub groups: Vec<String>,
    pub record: String,
}

/// What the account-mode workspaces want: the distinct desired users, each mirrored group's desired
/// members (lower-cased user names), the workspaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDesired {
    pub users: BTreeSet<String>,
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub workspaces: Vec<AccountWorkspace>,
}

/// The writes one account-mode run needs, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountChanges {
    /// Distinct users created at the account (one POST each).
    pub creates: usize,
    pub activations: usize,
    pub create_marker: bool,
    /// Users added to the marker group.
    pub marks: usize,
    pub deactivations: usize,
    /// Mirrored groups created at the account.
    pub group_creates: usize,
    /// Members the mirrored groups gain, all groups together.
    pub members_added: usize,
    /// PATCHes those additions take: per group, one per 50.
    pub member_patches: usize,
    /// Members the mirrored groups lose (one PATCH each).
    pub members_removed: usize,
    /// Permission assignments made (one PUT per group and workspace).
    pub assignments: usize,
    /// Record groups created (one per workspace that records its first assignment).
    pub record_creates: usize,
    /// PATCHes recording assignments before they are made: per workspace, one per 50.
    pub record_patches: usize,
}

impl AccountChanges {
    fn posts(&self) -> usize {
        self.creates + usize::from(self.create_marker) + self.group_creates + self.record_creates
    }

    fn patches(&self, limits: &Limits) -> usize {
        self.activations
            + self.marks.div_ceil(limits.members_per_patch.max(1))
            + self.deactivations
            + self.member_patches
            + self.members_removed
            + self.record_patches
    }

    /// Write requests these changes take at the least.
    pub fn writes(&self, limits: &Limits) -> usize {
        self.posts() + self.patches(limits) + self.assignments
    }
}

/// What `desired` needs of an account in `state`; with `deprovision` (every account-mode workspace
/// deprovisions, and the run has them all), marked active users nobody wants are deactivated.
pub fn account_changes(
    desired: &AccountDesired,
    state: &AccountState,
    deprovision: bool,
    limits: &Limits,
) -> AccountChanges {
    let principals = changes(&desired.users, &state.principals, deprovision);
    let mut c = AccountChanges {
        creates: principals.creates,
        activations: principals.activations,
        create_marker: principals.create_marker,
        marks: principals.marks,
        deactivations: principals.deactivations,
        ..AccountChanges::default()
    };
    let batch = limits.members_per_patch.max(1);
    let users = &state.principals.users;
    let names: HashMap<&str, &str> = (users.iter())
        .map(|(name, user)| (user.id.as_str(), name.as_str()))
        .collect();
    for (group, members) in &desired.groups {
        let (added, removed) = match state.groups.get(group) {
            None => {
                c.group_creates += 1;
                (members.len(), 0)
            }
            Some(current) => {
                let current = &current.members;
                let added = (members.iter())
                    .filter(|name| users.get(*name).is_none_or(|u| !current.contains(&u.id)))
                    .count();
                // Only listed principals are compared: a member that is no user is left alone.
                let removed = (current.iter())
                    .filter_map(|id| names.get(id.as_str()))
                    .filter(|name| !members.contains(**name))
                    .count();
                (added, removed)
            }
        };
        c.members_added += added;
        c.member_patches += added.div_ceil(batch);
        c.members_removed += removed;
    }
    for (i, workspace) in desired.workspaces.iter().enumerate() {
        let empty = HashSet::new();
        let assigned = state.assigned.get(i).unwrap_or(&empty);
        let recorded = state.groups.get(&workspace.record).map(|g| &g.members);
        let mut to_assign = 0;
        let mut to_record = 0;
        for group in &workspace.groups {
            // A group created this run is assigned, and recorded, for the first time.
            let id = state.groups.get(group).map(|g| &g.id);
            if id.is_some_and(|id| assigned.contains(id)) {
                continue;
            }
            to_assign += 1;
            to_record +=
                usize::from(!id.is_some_and(|id| recorded.is_some_and(|r| r.contains(id))));
        }
        c.assignments += to_assign;
        if to_record > 0 {
            c.record_creates += usize::from(recorded.is_none());
            c.record_patches += to_record.div_ceil(batch);
        }
    }
    c
}

/// A whole account-mode run: the Graph reads, the account's size before it, its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWork {
    /// User members of each distinct Entra group (transitive).
    pub distinct_group_sizes: Vec<usize>,
    /// Users the account lists before the run.
    pub listed: usize,
    /// Groups at the account before the run.
    pub account_groups: usize,
    pub marker_exists: bool,
    /// Distinct mirrored groups, and how many of them exist before the run.
    pub mirrored: usize,
    pub mirrored_existing: usize,
    /// Account-mode workspaces, and how many of their record groups exist before the run.
    pub workspaces: usize,
    pub records_existing: usize,
    pub changes: AccountChanges,
}

/// The fewest requests an account-mode run takes, per API and method.
pub fn account_requests(work: &AccountWork, limits: &Limits) -> Counts {
    let mut counts = Counts::new();
    let mut add = |api: &str, method: &str, n: usize| {
        if n > 0 {
            *counts
                .entry(api.to_owned())
                .or_default()
                .entry(method.to_owned())
                .or_default() += n;
        }
    };
    let graph: usize = (work.distinct_group_sizes.iter())
        .map(|&n| 1 + pages(n, limits.graph_page))
        .sum();
    add("graph", "GET", graph);
    add("identity", "GET", 3);
    // Each workspace's PAT, plus the vault's challenge (its first request), as in workspace mode.
    add(
        "keyVault",
        "GET",
        work.workspaces + usize::from(work.workspaces > 0),
    );
    let c = &work.changes;
    let found = |exists: bool| 1 + usize::from(exists);
    let mut reads = pages(work.listed, limits.account_page)
        + found(work.marker_exists)
        + work.mirrored
        + work.mirrored_existing
        + 2 * work.workspaces
        + work.records_existing
        // In each workspace: its own marker group, and its groups' listing.
        + 2 * work.workspaces;
    if c.deactivations > 0 {
        // The account's groups with their roles, and each workspace's own `admins` (one filtered
        // LIST: the bench's hold users only, no nested group).
        reads += pages(work.account_groups, limits.account_page) + work.workspaces;
    }
    add("databricks", "GET", reads);
    add("databricks", "POST", c.posts());
    add("databricks", "PATCH", c.patches(limits));
    add("databricks", "PUT", c.assignments);
    counts
}

/// The shortest time the APIs allow, in seconds: the reads that must come before the first write (the
/// longest Graph listing, page by page, after its look-up; the account's user listing, its first page
/// then the others [`ACCOUNT_PAGES_AT_ONCE`] at a time; they may overlap), then the writes of each kind beyond the account's burst of `ceil(rate)` at the
/// rate (POST and PUT share one limit, PATCH has its own: they may overlap), the last answered one
/// latency later.
pub fn account_time_bound(work: &AccountWork, limits: &Limits, pace: &Pace) -> f64 {
    let burst = pace.write_rate.ceil().max(1.0);
    let rate = pace.write_rate.max(0.001);
    let longest = (work.distinct_group_sizes.iter())
        .map(|&n| pages(n, limits.graph_page))
        .max()
        .unwrap_or(0);
    let graph = (1 + longest) as f64 * pace.latency;
    let listing =
        listing_round_trips(pages(work.listed, limits.account_page)) as f64 * pace.latency;
    let reads = graph.max(listing);
    let c = &work.changes;
    let writes = (c.posts() + c.assignments) as f64;
    let patches = c.patches(limits) as f64;
    if writes + patches == 0.0 {
        return reads;
    }
    let beyond = |n: f64| (n - burst).max(0.0) / rate;
    reads + pace.latency + beyond(writes).max(beyond(patches))
}

/// The account pages the handler asks for at once after the first (`ACCOUNT_PAGES_AT_ONCE` in the
/// handler's `databricks/listing.rs`): the account's reads are unlimited in the bench, so its listing
/// takes that many pages per round trip.
pub const ACCOUNT_PAGES_AT_ONCE: usize = 12;

/// Round trips of a listing of `pages` pages: the first alone (its `totalResults` says how many
/// follow), then the others a few at once.
fn listing_round_trips(pages: usize) -> usize {
    if pages == 0 {
        return 0;
    }
    1 + (pages - 1).div_ceil(ACCOUNT_PAGES_AT_ONCE)
}

#[cfg(test)]
mod tests {
    use super::super::Present;
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn ids(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Two workspaces: ws-1 mirrors A and B, ws-2 mirrors B and C; A = {a, b}, B = {b, c}, C = {d}.
    fn desired() -> AccountDesired {
        AccountDesired {
            users: names(&["a", "b", "c", "d"]),
            groups: BTreeMap::from([
                ("A".to_owned(), names(&["a", "b"])),
                ("B".to_owned(), names(&["b", "c"])),
                ("C".to_owned(), names(&["d"])),
            ]),
            workspaces: vec![
                AccountWorkspace {
                    groups: vec!["A".to_owned(), "B".to_owned()],
                    record: "m-ws-1".to_owned(),
                },
                AccountWorkspace {
                    groups: vec!["B".to_owned(), "C".to_owned()],
                    record: "m-ws-2".to_owned(),
                },
            ],
        }
    }

    fn user(id: &str, active: bool) -> Present {
        Present {
            id: id.to_owned(),
            active,
        }
    }

    fn group(id: &str, members: &[&str]) -> GroupState {
        GroupState {
            id: id.to_owned(),
            members: ids(members),
        }
    }

    /// The account once `desired()` is synced: users 1..4, groups A, B, C assigned and recorded.
    fn settled() -> AccountState {
        AccountState {
            principals: WorkspaceState {
                users: HashMap::from(
                    [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
                        .map(|(name, id)| (name.to_owned(), user(id, true))),
                ),
                marker: Some(ids(&["1", "2", "3", "4"])),
                protected: HashSet::new(),
            },
            groups: HashMap::from([
                ("m".to_owned(), group("g0", &["1", "2", "3", "4"])),
                ("A".to_owned(), group("gA", &["1", "2"])),
                ("B".to_owned(), group("gB", &["2", "3"])),
                ("C".to_owned(), group("gC", &["4"])),
                ("m-ws-1".to_owned(), group("r1", &["gA", "gB"])),
                ("m-ws-2".to_owned(), group("r2", &["gB", "gC"])),
            ]),
            assigned: vec![ids(&["gA", "gB"]), ids(&["gB", "gC"])],
        }
    }

    fn work(changes: AccountChanges, state: &AccountState, listed: usize) -> AccountWork {
        AccountWork {
            distinct_group_sizes: vec![2, 2, 1],
            listed,
            account_groups: state.groups.len(),
            marker_exists: state.principals.marker.is_some(),
            mirrored: 3,
            mirrored_existing: ["A", "B", "C"]
                .iter()
                .filter(|g| state.groups.contains_key(**g))
                .count(),
            workspaces: 2,
            records_existing: ["m-ws-1", "m-ws-2"]
                .iter()
                .filter(|g| state.groups.contains_key(**g))
                .count(),
            changes,
        }
    }

    #[test]
    fn an_empty_account_gets_each_user_once_each_group_once_and_an_assignment_per_group_and_workspace()
     {
        let limits = Limits::default();
        let c = account_changes(&desired(), &AccountState::default(), true, &limits);
        assert_eq!(
            c,
            AccountChanges {
                creates: 4,
                create_marker: true,
                marks: 4,
                group_creates: 3,
                members_added: 5,
                member_patches: 3,
                assignments: 4,
                record_creates: 2,
                record_patches: 2,
                ..AccountChanges::default()
            },
            "b and c are wanted twice and created once; B is one account group for both workspaces"
        );
        assert_eq!(c.writes(&limits), 4 + 1 + 1 + 3 + 3 + 4 + 2 + 2);
        let counts = account_requests(&work(c, &AccountState::default(), 0), &limits);
        assert_eq!(counts["databricks"]["POST"], 4 + 1 + 3 + 2);
        assert_eq!(counts["databricks"]["PATCH"], 1 + 3 + 2);
        assert_eq!(counts["databricks"]["PUT"], 4);
        // One (empty) page of users; each group looked up by name, none found so none read by id;
        // each workspace's assignments and record group; in each workspace, its own marker group and
        // its groups.
        assert_eq!(counts["databricks"]["GET"], 1 + 1 + 3 + 2 * 2 + 2 * 2);
        assert_eq!(counts["graph"]["GET"], 3 + 3);
        assert_eq!(
            counts["identity"]["GET"], 3,
            "Graph, Azure Databricks, Key Vault"
        );
        assert_eq!(
            counts["keyVault"]["GET"],
            2 + 1,
            "each workspace's PAT, the challenge"
        );
    }

    #[test]
    fn a_settled_account_needs_nothing_but_its_reads_a_page_per_hundred_users() {
        let limits = Limits::default();
        let state = settled();
        let c = account_changes(&desired(), &state, true, &limits);
        assert_eq!(c, AccountChanges::default());
        assert_eq!(c.writes(&limits), 0);
        let reads =
            |listed| account_requests(&work(c, &state, listed), &limits)["databricks"]["GET"];
        // The users' pages; the marker, A, B, C and both record groups looked up, then read by id;
        // each workspace's assignments.
        assert_eq!(reads(100), 1 + 2 + 3 * 2 + 2 * (1 + 2) + 2 * 2);
        assert_eq!(reads(101), 2 + 2 + 3 * 2 + 2 * (1 + 2) + 2 * 2);
        let counts = account_requests(&work(c, &state, 100), &limits);
        assert_eq!(counts["databricks"].len(), 1, "reads only: {counts:?}");
    }

    #[test]
    fn changes_to_the_groups_cost_a_patch_per_fifty_additions_and_one_per_removal() {
        let limits = Limits::default();
        let mut desired = desired();
        // c leaves B (and nobody wants c any more); e joins A; 120 new people join C.
        let joiners: Vec<String> = (0..120).map(|i| format!("n{i:03}")).collect();
        desired.users.remove("c");
        desired.users.insert("e".to_owned());
        desired.users.extend(joiners.iter().cloned());
        let groups = &mut desired.groups;
        groups.insert("B".to_owned(), names(&["b"]));
        groups.insert("A".to_owned(), names(&["a", "b", "e"]));
        let mut c_members = names(&["d"]);
        c_members.extend(joiners.iter().cloned());
        groups.insert("C".to_owned(), c_members);
        let mut state = settled();
        // e is at the account already, deactivated and unmarked.
        (state.principals.users).insert("e".to_owned(), user("5", false));
        let c = account_changes(&desired, &state, true, &limits);
        assert_eq!(
            c,
            AccountChanges {
                creates: 120,
                activations: 1,
                marks: 121,
                deactivations: 1,
                members_added: 121,
                member_patches: 1 + 3,
                members_removed: 1,
                ..AccountChanges::default()
            }
        );
        let counts = account_requests(&work(c, &state, 5), &limits);
        assert_eq!(counts["databricks"]["PATCH"], 1 + 3 + 1 + 4 + 1);
        // Someone is deprovisioned: the account's groups with their roles are read first, and each
        // workspace's `admins` (the workspaces' assignments, read already, serve for both).
        assert_eq!(
            counts["databricks"]["GET"],
            1 + 2 + 3 * 2 + 2 * (1 + 2) + 1 + 2 * 2 + 2
        );
        let kept = account_changes(&desired, &state, false, &limits);
        assert_eq!(
            kept.deactivations, 0,
            "without deprovisioning nobody leaves"
        );
    }

    #[test]
    fn an_assignment_made_by_someone_else_is_neither_made_again_nor_recorded() {
        let limits = Limits::default();
        let mut state = settled();
        // ws-2 lost its C assignment (someone took it back): it is made again, recorded already.
        state.assigned[1].remove("gC");
        // ws-1's record group was deleted; its assignments stand: nothing to do.
        state.groups.remove("m-ws-1");
        let c = account_changes(&desired(), &state, true, &limits);
        assert_eq!(
            c,
            AccountChanges {
                assignments: 1,
                ..AccountChanges::default()
            }
        );
        // ws-1 also loses A: assigned again, recorded in a new record group.
        state.assigned[0].remove("gA");
        let c = account_changes(&desired(), &state, true, &limits);
        assert_eq!(
            (c.assignments, c.record_creates, c.record_patches),
            (2, 1, 1)
        );
    }

    #[test]
    fn the_time_bound_overlaps_reads_and_paces_each_kind_of_write_apart() {
        let limits = Limits::default();
        let pace = Pace {
            latency: 0.02,
            write_rate: 100.0,
            reads_too: false,
        };
        let c = AccountChanges {
            creates: 1000,
            marks: 1000,
            member_patches: 300,
            ..AccountChanges::default()
        };
        let mut w = work(c, &AccountState::default(), 0);
        w.distinct_group_sizes = vec![1998];
        // Graph: a look-up and 2 pages; 1,000 POSTs (100 in the burst) at 100/s; 320 PATCHes overlap.
        let bound = account_time_bound(&w, &limits, &pace);
        assert!((bound - (3.0 * 0.02 + 0.02 + 9.0)).abs() < 1e-9, "{bound}");
        // Nothing to write: the longer read chain, here 19,000 users in 190 pages of 100: the first,
        // then 189 at 12 a round trip (16).
        w.changes = AccountChanges::default();
        w.listed = 19_000;
        let bound = account_time_bound(&w, &limits, &pace);
        assert!((bound - 17.0 * 0.02).abs() < 1e-9, "{bound}");
        assert_eq!(
            (
                listing_round_trips(0),
                listing_round_trips(1),
                listing_round_trips(9)
            ),
            (0, 1, 2)
        );
    }
}
