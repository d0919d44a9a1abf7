//! A group's members: ids in the order they were added, with look-up, addition and removal that cost
//! O(log n) rather than O(n), so that changing a group of 85,000 members by 50 costs about 50 steps under
//! the workspace's lock (the real service does not serialise a workspace behind one big group).
//!
//! Each id gets a *place*, a number that only grows: `place` maps id → place, `order` maps place → id and
//! gives the listing order. An `indexmap::IndexSet` would keep the order too, but its order-keeping
//! removal (`shift_remove`) moves every later member, O(n); here a removal leaves a gap in the places.
//! Because a removed id can be put back at its old place ([`Members::restore`]), a PATCH changes the
//! group in place and, should a later operation or check fail, undoes exactly what it did ([`Journal`])
//! instead of working on a copy of the whole group.

use std::collections::{BTreeMap, HashMap};

/// Where an id stands in the order (smaller: added earlier).
pub(crate) type Place = u64;

#[derive(Debug, Default)]
pub(crate) struct Members {
    place: HashMap<String, Place>,
    order: BTreeMap<Place, String>,
    /// The place of the next id added: after every place taken so far.
    next: Place,
}

impl Members {
    pub fn contains(&self, id: &str) -> bool {
        self.place.contains_key(id)
    }

    /// The ids in the order they were added. This walks the group: O(n).
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        #[cfg(test)]
        walks::count();
        self.order.values()
    }

    /// Adds `id` last unless it is a member already; whether it was added.
    pub fn insert(&mut self, id: String) -> bool {
        if self.place.contains_key(&id) {
            return false;
        }
        self.restore(id, self.next);
        true
    }

    /// Removes `id`; where it stood, if it was a member.
    pub fn remove(&mut self, id: &str) -> Option<Place> {
        let place = self.place.remove(id)?;
        self.order.remove(&place);
        Some(place)
    }

    /// Puts `id` (not a member) at `place` (free): back where it was before a [`Members::remove`], or last
    /// when `place` is `next`.
    fn restore(&mut self, id: String, place: Place) {
        self.next = self.next.max(place + 1);
        self.place.insert(id.clone(), place);
        self.order.insert(place, id);
    }
}

impl FromIterator<String> for Members {
    /// Members in the iterator's order; repeats are dropped.
    fn from_iter<I: IntoIterator<Item = String>>(ids: I) -> Self {
        let mut members = Members::default();
        for id in ids {
            members.insert(id);
        }
        members
    }
}

/// What a PATCH changed in a group's members, in order, for checking what it added and for undoing it.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    changes: Vec<Change>,
}

#[derive(Debug)]
enum Change {
    Added(String),
    Removed(String, Place),
}

impl Journal {
    /// [`Members::insert`], recorded.
    pub fn insert(&mut self, members: &mut Members, id: String) {
        if !members.contains(&id) {
            members.insert(id.clone());
            self.changes.push(Change::Added(id));
        }
    }

    /// [`Members::remove`], recorded.
    pub fn remove(&mut self, members: &mut Members, id: &str) {
        if let Some(place) = members.remove(id) {
            self.changes.push(Change::Removed(id.to_owned(), place));
        }
    }

    /// The members now that were not members before the first change, in member order: what the
    /// integrity rules must check. An id's changes alternate (one cannot add a member or remove a
    /// non-member), so its first change tells whether it was a member before.
    pub fn added<'a>(&'a self, members: &Members) -> Vec<&'a String> {
        let mut first_change: HashMap<&String, bool> = HashMap::new();
        for change in &self.changes {
            let (id, added) = match change {
                Change::Added(id) => (id, true),
                Change::Removed(id, _) => (id, false),
            };
            first_change.entry(id).or_insert(added);
        }
        let mut added: Vec<(&String, Place)> = first_change
            .into_iter()
            .filter(|&(_, added)| added)
            .filter_map(|(id, _)| Some((id, *members.place.get(id)?)))
            .collect();
        added.sort_unstable_by_key(|&(_, place)| place);
        added.into_iter().map(|(id, _)| id).collect()
    }

    /// Undoes every change, last first: the members are as they were, order included.
    pub fn undo(self, members: &mut Members) {
        for change in self.changes.into_iter().rev() {
            match change {
                Change::Added(id) => {
                    members.remove(&id);
                }
                Change::Removed(id, place) => members.restore(id, place),
            }
        }
    }
}

/// For tests: how many times a thread walked some group's members ([`Members::iter`]).
#[cfg(test)]
pub(crate) mod walks {
    use std::cell::Cell;

    thread_local! {
        static WALKS: Cell<usize> = const { Cell::new(0) };
    }

    pub fn count() {
        WALKS.with(|w| w.set(w.get() + 1));
    }

    pub fn so_far() -> usize {
        WALKS.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(members: &Members) -> Vec<&str> {
        members.iter().map(String::as_str).collect()
    }

    #[test]
    fn members_keep_the_order_they_were_added_in_and_a_removal_keeps_the_others_order() {
        let mut members: Members = ["c", "a", "b", "a"].map(String::from).into_iter().collect();
        assert_eq!(ids(&members), ["c", "a", "b"]);
        assert!(!members.insert("c".into()));
        assert_eq!(members.remove("a"), Some(1));
        assert_eq!(members.remove("a"), None);
        assert!(members.insert("a".into()));
        assert_eq!(ids(&members), ["c", "b", "a"]);
        assert!(members.contains("b") && !members.contains("d"));
    }

    #[test]
    fn a_journal_tells_what_was_added_and_undoes_everything_in_place() {
        let mut members: Members = ["a", "b", "c"].map(String::from).into_iter().collect();
        let mut journal = Journal::default();
        journal.remove(&mut members, "b");
        journal.insert(&mut members, "d".into());
        journal.insert(&mut members, "b".into()); // back, but last now: not new
        journal.remove(&mut members, "a");
        journal.insert(&mut members, "e".into());
        journal.remove(&mut members, "d"); // new, then gone: not added
        journal.remove(&mut members, "x"); // not a member: nothing to record
        journal.insert(&mut members, "c".into()); // a member already: nothing to record
        assert_eq!(ids(&members), ["c", "b", "e"]);
        assert_eq!(journal.added(&members), ["e"]);
        journal.undo(&mut members);
        assert_eq!(ids(&members), ["a", "b", "c"]);
        assert!(members.insert("f".into()));
        assert_eq!(ids(&members), ["a", "b", "c", "f"]);
    }
}
