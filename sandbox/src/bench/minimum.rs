//! The least a sync can do, computed from the generated data and the documented page sizes, never from
//! the handler's own report: which changes a workspace needs ([`changes`]), how many requests per API and
//! method they and the reads before them take ([`requests`]), and the shortest time the APIs allow
//! ([`time_bound`]).
//!
//! Reads: per distinct Entra group, one look-up by name and one page per 999 user members (Graph's `$top`
//! maximum, at least one page); one Key Vault read per secret, plus one unauthenticated request per vault
//! (the Key Vault SDK learns the token's scope from the 401 challenge of its first request, once per
//! client); two managed-identity tokens (Graph, Key Vault); per workspace, one page of users per 10,000 (the page the Databricks Go SDK asks for, at least
//! one page), the marker group, and, when deprovisioning is on, `/Me` and the `admins` group.
//! Writes, per workspace: one POST per user created, one PATCH per user reactivated or deactivated, one
//! POST for the marker group if it is missing, one PATCH per 50 users marked (the batch the field uses).
//!
//! Account mode (`identities: "account"`) has its own: [`account`].

mod account;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

pub use account::{
    AccountChanges, AccountDesired, AccountState, AccountWork, AccountWorkspace, GroupState,
    account_changes, account_requests, account_time_bound,
};

/// Documented page and batch sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Graph's `$top` maximum for directory objects.
    pub graph_page: usize,
    /// SCIM users per page (no documented maximum; the Go SDK asks for 10,000).
    pub scim_page: usize,
    /// Account SCIM resources per page (the REST reference: `count` "<= 100").
    pub account_page: usize,
    /// Members added per group PATCH.
    pub members_per_patch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            graph_page: 999,
            scim_page: 10_000,
            account_page: 100,
            members_per_patch: 50,
        }
    }
}

/// A workspace user as the workspace holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    pub id: String,
    pub active: bool,
}

/// A workspace as it is before a run: users by lower-cased name, the marker group's members (`None`:
/// no marker group yet), and the ids never deprovisioned (`admins` members, the token's owner).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceState {
    pub users: HashMap<String, Present>,
    pub marker: Option<HashSet<String>>,
    pub protected: HashSet<String>,
}

/// The changes one workspace needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    pub creates: usize,
    pub activations: usize,
    pub create_marker: bool,
    /// Users to add to the marker group (present but unmarked, or created now).
    pub marks: usize,
    pub deactivations: usize,
}

impl Changes {
    /// Write requests these changes take at the least.
    pub fn writes(&self, limits: &Limits) -> usize {
        self.creates
            + self.activations
            + usize::from(self.create_marker)
            + self.marks.div_ceil(limits.members_per_patch.max(1))
            + self.deactivations
    }
}

/// What `desired` (lower-cased user names) needs in a workspace in `state`; with `deprovision`, marked
/// active users who are no longer desired are deactivated (the bench sets `maxDeprovision` to 100%, so
/// none is held).
pub fn changes(desired: &BTreeSet<String>, state: &WorkspaceState, deprovision: bool) -> Changes {
    let empty = HashSet::new();
    let marked = state.marker.as_ref().unwrap_or(&empty);
    let mut changes = Changes::default();
    for name in desired {
        match state.users.get(name) {
            None => {
                changes.creates += 1;
                changes.marks += 1;
            }
            Some(user) => {
                changes.activations += usize::from(!user.active);
                changes.marks += usize::from(!marked.contains(&user.id));
            }
        }
    }
    changes.create_marker = state.marker.is_none() && changes.marks > 0;
    if deprovision {
        changes.deactivations = state
            .users
            .iter()
            .filter(|(name, user)| {
                user.active
                    && marked.contains(&user.id)
                    && !state.protected.contains(&user.id)
                    && !desired.contains(*name)
            })
            .count();
    }
    changes
}

/// One workspace's share of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceWork {
    /// Users the workspace lists before the run (its admin included).
    pub listed: usize,
    pub changes: Changes,
    /// `/Me` and `admins` are read (deprovisioning is on).
    pub deprovision: bool,
    /// User members of each of its Entra groups (transitive), for the time bound.
    pub group_sizes: Vec<usize>,
}

/// A whole run: the distinct Entra groups read (their user member counts), the secrets and the vaults
/// holding them, the workspaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunWork {
    pub distinct_group_sizes: Vec<usize>,
    pub secrets: usize,
    pub vaults: usize,
    pub workspaces: Vec<WorkspaceWork>,
}

/// Requests by API (`graph`, `keyVault`, `identity`, `databricks`) and method.
pub type Counts = BTreeMap<String, BTreeMap<String, usize>>;

/// What one run has to do: the workspaces' work (workspace mode) or the account's (account mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Workspaces(RunWork),
    Account(AccountWork),
}

impl Work {
    /// The fewest requests, per API and method.
    pub fn requests(&self, limits: &Limits) -> Counts {
        match self {
            Work::Workspaces(work) => requests(work, limits),
            Work::Account(work) => account_requests(work, limits),
        }
    }

    /// The shortest time the APIs allow, seconds.
    pub fn time_bound(&self, limits: &Limits, pace: &Pace) -> f64 {
        match self {
            Work::Workspaces(work) => time_bound(work, limits, pace),
            Work::Account(work) => account_time_bound(work, limits, pace),
        }
    }

    /// The fewest writes.
    pub fn writes(&self, limits: &Limits) -> usize {
        match self {
            Work::Workspaces(work) => (work.workspaces.iter())
                .map(|w| w.changes.writes(limits))
                .sum(),
            Work::Account(work) => work.changes.writes(limits),
        }
    }
}

fn pages(items: usize, page: usize) -> usize {
    items.div_ceil(page.max(1)).max(1)
}

/// A workspace's SCIM reads: its pages of users, the marker group, and with deprovisioning `/Me` and
/// `admins`.
fn scim_reads(ws: &WorkspaceWork, limits: &Limits) -> usize {
    pages(ws.listed, limits.scim_page) + 1 + if ws.deprovision { 2 } else { 0 }
}

/// The fewest requests `work` takes, per API and method.
pub fn requests(work: &RunWork, limits: &Limits) -> Counts {
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
    let graph: usize = work
        .distinct_group_sizes
        .iter()
        .map(|&n| 1 + pages(n, limits.graph_page))
        .sum();
    add("graph", "GET", graph);
    add("keyVault", "GET", work.secrets + work.vaults);
    add("identity", "GET", 2);
    for ws in &work.workspaces {
        add("databricks", "GET", scim_reads(ws, limits));
        let c = &ws.changes;
        add(
            "databricks",
            "POST",
            c.creates + usize::from(c.create_marker),
        );
        add(
            "databricks",
            "PATCH",
            c.activations + c.marks.div_ceil(limits.members_per_patch.max(1)) + c.deactivations,
        );
    }
    counts
}

/// The API limits a run is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pace {
    /// Added to every request, seconds.
    pub latency: f64,
    /// SCIM writes per second per workspace.
    pub write_rate: f64,
    /// The rate covers every SCIM request, reads included (a workspace throttled as Databricks
    /// documents it), not only the writes.
    pub reads_too: bool,
}

/// The shortest time the APIs allow, in seconds: per workspace, the reads that must precede its first
/// write (a Graph look-up, then its longest member listing page by page: pages follow `nextLink`, so they
/// are sequential), then its writes at the write rate after the emulator's burst of `ceil(rate)`, the
/// last one answered one latency later. When the rate covers reads too, the workspace's SCIM reads and
/// writes together need at least their number beyond the burst at the rate (reads may overlap the Graph
/// reads, so this is the larger of the two bounds, not their sum). Workspaces run in parallel, so the
/// run takes the longest.
pub fn time_bound(work: &RunWork, limits: &Limits, pace: &Pace) -> f64 {
    let burst = pace.write_rate.ceil().max(1.0);
    let rate = pace.write_rate.max(0.001);
    work.workspaces
        .iter()
        .map(|ws| {
            let longest = ws
                .group_sizes
                .iter()
                .map(|&n| pages(n, limits.graph_page))
                .max()
                .unwrap_or(0);
            let reads = (1 + longest) as f64 * pace.latency;
            let writes = ws.changes.writes(limits) as f64;
            let chain = if writes == 0.0 {
                reads
            } else {
                reads + pace.latency + (writes - burst).max(0.0) / rate
            };
            if pace.reads_too {
                let scim = scim_reads(ws, limits) as f64 + writes;
                chain.max(pace.latency + (scim - burst).max(0.0) / rate)
            } else {
                chain
            }
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn user(id: &str, active: bool) -> Present {
        Present {
            id: id.to_owned(),
            active,
        }
    }

    #[test]
    fn an_empty_workspace_needs_every_user_created_marked_and_the_marker_group() {
        let c = changes(&names(&["a@x", "b@x"]), &WorkspaceState::default(), true);
        assert_eq!(
            c,
            Changes {
                creates: 2,
                marks: 2,
                create_marker: true,
                ..Changes::default()
            }
        );
        assert_eq!(c.writes(&Limits::default()), 2 + 1 + 1);
    }

    #[test]
    fn present_users_cost_a_reactivation_if_inactive_and_a_mark_if_unmarked() {
        let state = WorkspaceState {
            users: HashMap::from([
                ("a@x".to_owned(), user("1", true)),
                ("b@x".to_owned(), user("2", false)),
                ("c@x".to_owned(), user("3", true)),
            ]),
            marker: Some(HashSet::from(["3".to_owned()])),
            protected: HashSet::new(),
        };
        let c = changes(&names(&["a@x", "b@x", "c@x"]), &state, false);
        assert_eq!(
            c,
            Changes {
                activations: 1,
                marks: 2,
                ..Changes::default()
            }
        );
    }

    #[test]
    fn only_marked_active_unprotected_leavers_are_deactivated_and_only_with_deprovisioning() {
        let state = WorkspaceState {
            users: HashMap::from([
                ("stays@x".to_owned(), user("1", true)),
                ("left@x".to_owned(), user("2", true)),
                ("gone@x".to_owned(), user("3", false)),
                ("by-hand@x".to_owned(), user("4", true)),
                ("admin@x".to_owned(), user("5", true)),
            ]),
            marker: Some(HashSet::from(["1", "2", "3", "5"].map(str::to_owned))),
            protected: HashSet::from(["5".to_owned()]),
        };
        let desired = names(&["stays@x"]);
        assert_eq!(changes(&desired, &state, true).deactivations, 1);
        assert_eq!(changes(&desired, &state, false), Changes::default());
    }

    #[test]
    fn a_settled_workspace_needs_nothing_not_even_the_marker_group() {
        let state = WorkspaceState {
            users: HashMap::from([("a@x".to_owned(), user("1", true))]),
            marker: None,
            protected: HashSet::new(),
        };
        let mut settled = state.clone();
        settled.marker = Some(HashSet::from(["1".to_owned()]));
        assert!(changes(&names(&["a@x"]), &state, true).create_marker);
        assert_eq!(
            changes(&names(&["a@x"]), &settled, true),
            Changes::default()
        );
        assert_eq!(
            changes(&names(&[]), &state, true),
            Changes::default(),
            "no marker group is created when nobody is to be marked"
        );
    }

    fn run(listed: usize, changes: Changes, groups: Vec<usize>) -> RunWork {
        RunWork {
            distinct_group_sizes: groups.clone(),
            secrets: 1,
            vaults: 1,
            workspaces: vec![WorkspaceWork {
                listed,
                changes,
                deprovision: true,
                group_sizes: groups,
            }],
        }
    }

    #[test]
    fn reads_are_one_page_per_page_size_started_and_never_zero() {
        let counts = requests(
            &run(10_000, Changes::default(), vec![0, 999, 1000]),
            &Limits::default(),
        );
        // Graph: 3 look-ups + 1 + 1 + 2 pages.
        assert_eq!(counts["graph"]["GET"], 3 + 4);
        // SCIM: 1 page of users (exactly 10,000), the marker group, /Me, admins.
        assert_eq!(counts["databricks"]["GET"], 4);
        assert!(!counts["databricks"].contains_key("POST"));
        assert_eq!(
            counts["keyVault"]["GET"],
            1 + 1,
            "the secret and the vault's challenge"
        );
        assert_eq!(counts["identity"]["GET"], 2);
        let more = requests(
            &run(10_001, Changes::default(), vec![1]),
            &Limits::default(),
        );
        assert_eq!(more["databricks"]["GET"], 5);
    }

    #[test]
    fn writes_are_one_per_change_and_one_patch_per_fifty_marks() {
        let c = Changes {
            creates: 120,
            activations: 3,
            create_marker: true,
            marks: 101,
            deactivations: 2,
        };
        let counts = requests(&run(1, c, vec![10]), &Limits::default());
        assert_eq!(counts["databricks"]["POST"], 121);
        assert_eq!(counts["databricks"]["PATCH"], 3 + 3 + 2);
    }

    #[test]
    fn the_time_bound_is_the_read_chain_then_the_writes_beyond_the_burst_at_the_rate() {
        let pace = Pace {
            latency: 0.02,
            write_rate: 100.0,
            reads_too: false,
        };
        let c = Changes {
            creates: 1100,
            ..Changes::default()
        };
        // 1,998 members: 2 pages after the look-up; 1,100 writes, 100 of them in the burst.
        let bound = time_bound(&run(1, c, vec![1998]), &Limits::default(), &pace);
        assert!((bound - (3.0 * 0.02 + 0.02 + 10.0)).abs() < 1e-9, "{bound}");
        let idle = time_bound(
            &run(1, Changes::default(), vec![1998]),
            &Limits::default(),
            &pace,
        );
        assert!((idle - 0.06).abs() < 1e-9, "{idle}");
    }

    #[test]
    fn when_reads_are_throttled_too_they_count_against_the_rate_with_the_writes() {
        let pace = Pace {
            latency: 0.02,
            write_rate: 4.0,
            reads_too: true,
        };
        let c = Changes {
            creates: 40,
            ..Changes::default()
        };
        // 25,000 listed users: 3 pages, the marker group, /Me, admins = 6 reads; 46 requests, 4 in the
        // burst, 42 at 4/s.
        let bound = time_bound(&run(25_000, c, vec![10]), &Limits::default(), &pace);
        assert!((bound - (0.02 + 42.0 / 4.0)).abs() < 1e-9, "{bound}");
        let writes_only = Pace {
            reads_too: false,
            ..pace
        };
        let bound = time_bound(&run(25_000, c, vec![10]), &Limits::default(), &writes_only);
        assert!((bound - (3.0 * 0.02 + 36.0 / 4.0)).abs() < 1e-9, "{bound}");
    }
}
