//! Group membership over the [`Store`]: who is in which group (a principal's `groups` is derived from the
//! groups' `members`), joining and leaving, and the integrity rules: members must exist, and a group can
//! contain neither itself nor one of its ancestors. Whether a principal is in a group is a look-up in the
//! group's [`super::members::Members`]: joining, leaving and finding a principal's groups cost the number
//! of groups, not of members.

use std::collections::{HashMap, HashSet};

use super::error::ScimError;
use super::store::{Group, Kind, Store};

impl Store {
    /// Groups whose members include `id` directly, in creation order.
    pub fn groups_of(&self, id: &str) -> Vec<&Group> {
        self.groups
            .iter()
            .filter(|g| g.members.contains(id))
            .collect()
    }

    /// Direct groups of every principal, computed once for a page of results.
    pub fn memberships(&self) -> HashMap<&str, Vec<&Group>> {
        let mut map: HashMap<&str, Vec<&Group>> = HashMap::new();
        for group in self.groups.iter() {
            for member in group.members.iter() {
                map.entry(member.as_str()).or_default().push(group);
            }
        }
        map
    }

    /// The direct groups of one principal, in the shape [`Store::memberships`] gives: for rendering a single
    /// resource without walking every membership of the workspace.
    pub fn memberships_of<'a>(&'a self, id: &'a str) -> HashMap<&'a str, Vec<&'a Group>> {
        HashMap::from([(id, self.groups_of(id))])
    }

    /// Fails unless every id in `groups` names a group.
    pub fn check_groups(&self, groups: &[String]) -> Result<(), ScimError> {
        match groups.iter().find(|g| self.groups.get(g).is_none()) {
            Some(missing) => Err(ScimError::invalid_value(format!(
                "Group {missing} not found."
            ))),
            None => Ok(()),
        }
    }

    /// Adds `member` to each of `groups` it is not in yet.
    pub fn join(&mut self, member: &str, groups: &[String]) {
        for id in groups {
            if let Some(group) = self.groups.get_mut(id) {
                group.members.insert(member.to_owned());
            }
        }
    }

    pub fn forget_member(&mut self, id: &str) {
        for group in self.groups.iter_mut().chain(self.account_groups.iter_mut()) {
            group.members.remove(id);
        }
    }

    /// Checks that `members` may be members of the group `group_id` (`None`: a group being created).
    pub fn check_members<'a>(
        &self,
        group_id: Option<&str>,
        members: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), ScimError> {
        for member in members {
            match self.kind_of(member) {
                None => {
                    return Err(ScimError::invalid_value(format!(
                        "Principal {member} not found."
                    )));
                }
                Some(Kind::Group) if group_id.is_some_and(|g| self.contains(member, g)) => {
                    return Err(ScimError::invalid_value(format!(
                        "Adding group {member} would create a membership cycle."
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether `group` is `target` or contains it, at any depth. Walks the members of `group` and of the
    /// groups below it (never those of `target`: reaching it ends the walk).
    fn contains(&self, group: &str, target: &str) -> bool {
        let mut stack = vec![group];
        let mut seen = HashSet::new();
        while let Some(current) = stack.pop() {
            if current == target {
                return true;
            }
            if !seen.insert(current) {
                continue;
            }
            if let Some(g) = self.groups.get(current) {
                stack.extend(g.members.iter().map(String::as_str));
            }
        }
        false
    }
}
