//! The benchmark's organisation, generated from a seed: people (about 2% guests, a tenth of them
//! without mail, 1.5% disabled, 2% in no group at all), groups with overlapping direct members and
//! nesting (a quarter of the groups contain two others, one group sits under two parents), and
//! workspaces that each use a run of the groups (every group is shared by about two workspaces), seeded
//! with some of their users already there (10% active, 3% deactivated) and some users made by hand.
//! [`Model::desired`] says who should be a user of a workspace by the documented rules, independently
//! of the handler.

use std::collections::{BTreeSet, HashSet};

use crate::graph::NewUser;
use crate::world::{Workspace, World};

/// A small deterministic generator (SplitMix64): the same seed gives the same organisation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: usize) -> bool {
        self.below(1000) < per_mille
    }
}

/// How big an organisation to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub users: usize,
    pub groups: usize,
    pub workspaces: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user: NewUser,
    pub guest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    /// Direct user members (indexes into `people`).
    pub users: BTreeSet<usize>,
    /// Nested groups (indexes into `groups`, always higher than this group's: no cycles).
    pub children: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSpec {
    pub name: String,
    /// Its access groups (indexes into `groups`).
    pub groups: Vec<usize>,
    /// Users seeded before the first run: (user name, active).
    pub seeded: Vec<(String, bool)>,
}

/// The whole organisation, and the ids the emulators gave it once applied.
#[derive(Debug, Clone)]
pub struct Model {
    pub people: Vec<Person>,
    pub groups: Vec<GroupSpec>,
    pub workspaces: Vec<WorkspaceSpec>,
    person_ids: Vec<String>,
    group_ids: Vec<String>,
}

/// One membership changed by [`Model::change_memberships`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add { group: usize, person: usize },
    Remove { group: usize, person: usize },
}

fn person(i: usize, rng: &mut Rng) -> Person {
    let roll = rng.below(1000);
    if roll < 20 {
        let mail = format!("guest{i:06}@fabrikam.com");
        let mut user = NewUser::guest(&mail, &format!("Guest {i}"));
        if i.is_multiple_of(10) {
            user.mail = None;
        }
        return Person { user, guest: true };
    }
    let mut user = NewUser::member(&format!("user{i:06}@contoso.com"), &format!("User {i}"));
    user.account_enabled = roll >= 35;
    Person { user, guest: false }
}

impl Model {
    /// Generates the organisation of `size`.
    pub fn generate(size: &Size) -> Model {
        let mut rng = Rng::new(size.seed);
        let people: Vec<Person> = (0..size.users).map(|i| person(i, &mut rng)).collect();
        let g = size.groups.max(1);
        let mut groups: Vec<GroupSpec> = (0..g)
            .map(|k| GroupSpec {
                name: format!("Team-{k:03}"),
                users: BTreeSet::new(),
                children: Vec::new(),
            })
            .collect();
        for i in 0..people.len() {
            if rng.chance(20) {
                continue; // in no group: a candidate joiner for the incremental phase
            }
            let first = rng.below(g);
            groups[first].users.insert(i);
            if g > 1 && rng.chance(250) {
                let second = (first + 1 + rng.below(g - 1)) % g;
                groups[second].users.insert(i);
            }
        }
        for (k, group) in groups.iter_mut().enumerate().take(g / 4) {
            for child in [g / 2 + 2 * k, g / 2 + 2 * k + 1] {
                if child < g && child > k {
                    group.children.push(child);
                }
            }
        }
        if g >= 4 && g - 1 > g / 2 && !groups[g / 2].children.contains(&(g - 1)) {
            groups[g / 2].children.push(g - 1);
        }
        let w = size.workspaces.max(1);
        let per_workspace = (g * 8).div_ceil(w * 5).clamp(1, g);
        let stride = (g / w).max(1);
        let mut model = Model {
            people,
            groups,
            workspaces: Vec::new(),
            person_ids: Vec::new(),
            group_ids: Vec::new(),
        };
        for i in 0..w {
            let mut chosen: Vec<usize> = (0..per_workspace).map(|j| (i * stride + j) % g).collect();
            chosen.dedup();
            let mut spec = WorkspaceSpec {
                name: format!("ws-{:02}", i + 1),
                groups: chosen,
                seeded: Vec::new(),
            };
            let desired = model.desired(&spec);
            for name in &desired {
                match rng.below(100) {
                    0..10 => spec.seeded.push((name.clone(), true)),
                    10..13 => spec.seeded.push((name.clone(), false)),
                    _ => {}
                }
            }
            for _ in 0..model.people.len() / 100 {
                let name = format!("by-hand{:06}@contoso.com", rng.below(1_000_000));
                if !desired.contains(&name) && !spec.seeded.iter().any(|(n, _)| *n == name) {
                    spec.seeded.push((name, true));
                }
            }
            model.workspaces.push(spec);
        }
        model
    }

    /// The user members of group `k`, through nesting.
    pub fn transitive_users(&self, k: usize) -> BTreeSet<usize> {
        let mut users = BTreeSet::new();
        let mut seen = HashSet::new();
        let mut stack = vec![k];
        while let Some(group) = stack.pop() {
            if !seen.insert(group) {
                continue;
            }
            users.extend(self.groups[group].users.iter().copied());
            stack.extend(self.groups[group].children.iter().copied());
        }
        users
    }

    /// The Databricks user name of person `i` under the default `userName: auto`, or `None` when the
    /// person is skipped (disabled, or a guest without mail).
    pub fn user_name(&self, i: usize) -> Option<String> {
        let p = &self.people[i];
        if !p.user.account_enabled {
            return None;
        }
        let raw = if p.guest {
            p.user.mail.as_deref()?
        } else {
            &p.user.user_principal_name
        };
        Some(raw.trim().to_lowercase())
    }

    /// Who should be a user of the workspace: members of its groups (nested included) with a usable
    /// name, by lower-cased user name.
    pub fn desired(&self, workspace: &WorkspaceSpec) -> BTreeSet<String> {
        workspace
            .groups
            .iter()
            .flat_map(|&k| self.transitive_users(k))
            .collect::<BTreeSet<usize>>()
            .into_iter()
            .filter_map(|i| self.user_name(i))
            .collect()
    }

    /// The distinct groups the workspaces use.
    pub fn used_groups(&self) -> BTreeSet<usize> {
        self.workspaces
            .iter()
            .flat_map(|w| w.groups.iter().copied())
            .collect()
    }

    /// Direct user memberships in all groups.
    pub fn memberships(&self) -> usize {
        self.groups.iter().map(|g| g.users.len()).sum()
    }

    /// Puts the organisation into `world`: the tenant's users, groups and nesting, and one workspace per
    /// spec with its seeded users. Returns the workspaces in spec order.
    ///
    /// # Errors
    /// A workspace emulator could not be started.
    pub async fn apply(&mut self, world: &World) -> std::io::Result<Vec<Workspace>> {
        let tenant = &world.tenant;
        self.person_ids = self
            .people
            .iter()
            .map(|p| tenant.add_user(p.user.clone()))
            .collect();
        self.group_ids = self
            .groups
            .iter()
            .map(|g| tenant.add_group(&g.name))
            .collect();
        for (k, group) in self.groups.iter().enumerate() {
            for &i in &group.users {
                tenant.add_member(&self.group_ids[k], &self.person_ids[i]);
            }
            for &child in &group.children {
                tenant.add_member(&self.group_ids[k], &self.group_ids[child]);
            }
        }
        let mut workspaces = Vec::new();
        for spec in &self.workspaces {
            let workspace = world.add_workspace(&spec.name).await?;
            for (name, active) in &spec.seeded {
                workspace.scim.add_user(name, name, *active);
            }
            workspaces.push(workspace);
        }
        Ok(workspaces)
    }

    /// Changes `fraction` of the direct memberships (at least one), half removals and half additions
    /// (a third of the additions bring in people who were in no group), in the model and in `world`.
    pub fn change_memberships(&mut self, world: &World, fraction: f64, seed: u64) -> Vec<Change> {
        let mut rng = Rng::new(seed);
        let total = ((self.memberships() as f64 * fraction).ceil() as usize).max(1);
        let outside: Vec<usize> = (0..self.people.len())
            .filter(|i| !self.groups.iter().any(|g| g.users.contains(i)))
            .collect();
        let mut changes = Vec::new();
        let g = self.groups.len();
        let mut attempts = 0;
        while changes.len() < total && attempts < total * 20 {
            attempts += 1;
            let group = rng.below(g);
            let change = if changes.len() % 2 == 0 {
                let members = &self.groups[group].users;
                if members.is_empty() {
                    continue;
                }
                let nth = rng.below(members.len());
                let Some(&person) = members.iter().nth(nth) else {
                    continue;
                };
                Change::Remove { group, person }
            } else {
                let person = if !outside.is_empty() && rng.below(3) == 0 {
                    outside[rng.below(outside.len())]
                } else {
                    rng.below(self.people.len())
                };
                if self.groups[group].users.contains(&person) {
                    continue;
                }
                Change::Add { group, person }
            };
            self.apply_change(world, change);
            changes.push(change);
        }
        changes
    }

    fn apply_change(&mut self, world: &World, change: Change) {
        match change {
            Change::Add { group, person } => {
                self.groups[group].users.insert(person);
                if let (Some(g), Some(p)) = (self.group_ids.get(group), self.person_ids.get(person))
                {
                    world.tenant.add_member(g, p);
                }
            }
            Change::Remove { group, person } => {
                self.groups[group].users.remove(&person);
                if let (Some(g), Some(p)) = (self.group_ids.get(group), self.person_ids.get(person))
                {
                    world.tenant.remove_member(g, p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::generate(&Size {
            users: 2000,
            groups: 8,
            workspaces: 3,
            seed: 7,
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_organisation() {
        let (a, b) = (model(), model());
        assert_eq!(a.people, b.people);
        assert_eq!(a.groups, b.groups);
        assert_eq!(a.workspaces, b.workspaces);
    }

    #[test]
    fn the_organisation_has_nesting_overlap_guests_and_disabled_people() {
        let m = model();
        assert!(m.groups.iter().any(|g| !g.children.is_empty()));
        let direct: usize = m.memberships();
        let people_in_groups = (0..m.people.len())
            .filter(|i| m.groups.iter().any(|g| g.users.contains(i)))
            .count();
        assert!(direct > people_in_groups, "some people are in two groups");
        assert!(m.people.iter().any(|p| p.guest && p.user.mail.is_some()));
        assert!(m.people.iter().any(|p| p.guest && p.user.mail.is_none()));
        assert!(m.people.iter().any(|p| !p.user.account_enabled));
        for w in &m.workspaces {
            assert!(w.seeded.iter().any(|(_, active)| !active));
        }
    }

    #[test]
    fn disabled_people_and_guests_without_mail_are_not_desired_and_guests_go_by_mail() {
        let m = model();
        for (i, p) in m.people.iter().enumerate() {
            let name = m.user_name(i);
            if !p.user.account_enabled || (p.guest && p.user.mail.is_none()) {
                assert_eq!(name, None);
            } else if p.guest {
                assert_eq!(name.as_deref(), p.user.mail.as_deref());
            }
            assert!(name.is_none_or(|n| !n.contains("#ext#")));
        }
    }
}
