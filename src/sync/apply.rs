//! Applying a plan to a workspace, one function per phase of the [`Plan`]: principals (create,
//! reactivate) with the marker group's additions alongside, then the mirrored groups (which need the
//! ids of the principals just created), then deprovisioning. Within a phase the actions run a few at a
//! time (enough for the SCIM client's pace to be the bound); each failure is recorded and the others
//! go on. A dry run records every action as `planned` and sends nothing. Held changes are reported as
//! `skipped` with the reason. Once the run's time budget is spent no write starts (but the workspace's
//! first, so every run makes progress); writes in flight finish, and the rest is reported `deferred`
//! for the next run, which plans it again. The marker group's additions are in `marker.rs`, the SCIM
//! writes of each change in `writes.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use super::desired::Principal;
use super::plan::{Action, Current, Deprovisioning, GroupChange, Held, Plan};
use super::report::{ActionList, FailureReason, Outcome};
use crate::databricks::{Scim, ScimId};
use crate::http::Requests;

mod marker;
mod writes;

use marker::Marker;

/// What applying came to for one kind of principal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub created: u64,
    pub reactivated: u64,
    /// Creations answered "already exists": the principal is there.
    pub already_existing: u64,
    pub deactivated: u64,
    pub removed: u64,
    pub failed: u64,
    /// Of `failed`: reactivations refused because the user is deactivated in the Databricks account.
    pub account_deactivated: u64,
}

/// What applying came to.
#[derive(Debug, Default)]
pub struct Applied {
    /// The actions with their outcomes (listed up to the report's caps, the rest counted).
    pub actions: ActionList,
    pub users: Tally,
    pub service_principals: Tally,
    /// Failed group changes (creating a group, adding or removing members, entitlements).
    pub failed_group_changes: u64,
    /// Changes not made (or not finished) because the time budget was spent.
    pub deferred: u64,
    /// With [`Ids::Keep`]: the ids learnt of the principals created (or found existing on a 409 that
    /// named them) and of every mirrored group, created or existing: what workspace assignments need.
    pub ids: HashMap<Principal, ScimId>,
    pub group_ids: HashMap<String, ScimId>,
}

/// Whether applying keeps the ids it learns ([`Applied::ids`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    Drop,
    Keep,
}

/// When a workspace's sync must stop starting writes: the run's deadline (`SYNC_MAX_RUN_SECONDS`).
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    seconds: u64,
    started: AtomicBool,
}

impl Budget {
    pub fn new(deadline: Instant, seconds: u64) -> Budget {
        Budget {
            deadline,
            seconds,
            started: AtomicBool::new(false),
        }
    }

    /// Whether a write may start now: before the deadline, or as the workspace's first write of the run
    /// (so that a run that spent its budget reading still makes progress).
    pub(super) fn may_start(&self) -> bool {
        let first = !self.started.swap(true, Ordering::SeqCst);
        first || Instant::now() < self.deadline
    }

    fn deferred(&self, done: &str) -> Done {
        Done::Deferred(format!(
            "{done}the run's time budget (SYNC_MAX_RUN_SECONDS={}) was spent; the next run does the rest",
            self.seconds
        ))
    }
}

const NOT_STARTED: &str = "not started: ";

/// How one action ended; `id` is the principal's id when the action learnt it.
enum Done {
    Created(ScimId),
    Reactivated,
    AlreadyExisted {
        id: Option<ScimId>,
        detail: String,
    },
    Deactivated,
    Removed,
    Applied(Option<String>),
    Failed(String),
    /// A reactivation the workspace refused because the user is deactivated in the Databricks account
    /// (only an account admin can undo it): a failure of its own, counted apart.
    AccountDeactivated(String),
    /// Not started (or not finished) when the budget was spent; the next run plans it again.
    Deferred(String),
}

impl Done {
    /// The id of the principal a create learnt.
    fn learnt(&self) -> Option<&ScimId> {
        match self {
            Done::Created(id) | Done::AlreadyExisted { id: Some(id), .. } => Some(id),
            _ => None,
        }
    }

    /// How the report shows it: outcome, detail, and the cause of a failure told apart.
    fn into_report(self) -> (Outcome, Option<String>, Option<FailureReason>) {
        match self {
            Done::Created(_) | Done::Reactivated | Done::Deactivated | Done::Removed => {
                (Outcome::Applied, None, None)
            }
            Done::AlreadyExisted { detail, .. } => (Outcome::Skipped, Some(detail), None),
            Done::Applied(detail) => (Outcome::Applied, detail, None),
            Done::Failed(cause) => (Outcome::Failed, Some(cause), None),
            Done::AccountDeactivated(cause) => (
                Outcome::Failed,
                Some(cause),
                Some(FailureReason::AccountDeactivated),
            ),
            Done::Deferred(detail) => (Outcome::Deferred, Some(detail), None),
        }
    }
}

impl Tally {
    fn count(&mut self, done: &Done) {
        match done {
            Done::Created(_) => self.created += 1,
            Done::Reactivated => self.reactivated += 1,
            Done::AlreadyExisted { .. } => self.already_existing += 1,
            Done::Deactivated => self.deactivated += 1,
            Done::Removed => self.removed += 1,
            Done::Failed(_) => self.failed += 1,
            Done::AccountDeactivated(_) => {
                self.failed += 1;
                self.account_deactivated += 1;
            }
            Done::Applied(_) | Done::Deferred(_) => {}
        }
    }
}

impl Applied {
    fn record(&mut self, action: Action<'_>, done: Done) {
        match action.principal() {
            Some(Principal::User(_)) => self.users.count(&done),
            Some(Principal::ServicePrincipal(_)) => self.service_principals.count(&done),
            None if matches!(done, Done::Failed(_)) => self.failed_group_changes += 1,
            None => {}
        }
        if matches!(done, Done::Deferred(_)) {
            self.deferred += 1;
        }
        let (outcome, detail, reason) = done.into_report();
        self.actions
            .push_with_reason(action.kind(), outcome, reason, || (action.target(), detail));
    }

    /// Held changes, `skipped` with the reason.
    fn skip(&mut self, held: &Held) {
        for action in held.actions() {
            self.actions.push(action.kind(), Outcome::Skipped, || {
                (action.target(), Some(held.reason.clone()))
            });
        }
    }
}

/// Runs the plan's actions against `scim` (or only lists them when `dry_run`). `current` gives the ids
/// of the principals and of the groups the workspace already had.
pub async fn apply(
    plan: &Plan,
    current: &Current,
    scim: &Scim,
    requests: &Requests,
    dry_run: bool,
    budget: &Budget,
    keep: Ids,
) -> Applied {
    let mut applied = Applied::default();
    if dry_run {
        for action in plan.actions() {
            (applied.actions).push(action.kind(), Outcome::Planned, || (action.target(), None));
        }
    } else {
        let writer = Writer {
            scim,
            requests,
            budget,
        };
        let ids = writer.principals(plan, current, keep, &mut applied).await;
        writer.groups(plan, current, &ids, &mut applied).await;
        if keep == Ids::Keep {
            applied.ids = ids;
        }
        writer.deprovision(&plan.deprovisioning, &mut applied).await;
    }
    if let Some(held) = &plan.held {
        applied.skip(held);
    }
    applied
}

/// The ids of listed principals that the group additions need: those the marker gains (every created
/// principal is marked too, as its id is learnt), and, by principal, the members mirrored groups gain.
fn listed_ids(plan: &Plan, current: &Current) -> (Vec<ScimId>, HashMap<Principal, ScimId>) {
    let marking = plan.marker.iter().flat_map(|m| &m.listed);
    let mirrored = plan.groups.iter().flat_map(|change| match change {
        GroupChange::Add { members, .. } => members.as_slice(),
        GroupChange::Create { .. }
        | GroupChange::AddEntitlements { .. }
        | GroupChange::Remove(_) => &[],
    });
    if marking.clone().next().is_none() && mirrored.clone().next().is_none() {
        return (Vec::new(), HashMap::new());
    }
    let listed = current.lookup();
    let id = |key: &Principal| listed.get(key).map(|p| p.id.clone());
    let known = marking.filter_map(id).collect();
    let ids = mirrored
        .filter_map(|key| Some((key.clone(), id(key)?)))
        .collect();
    (known, ids)
}

/// What every write of one apply goes through.
struct Writer<'a> {
    scim: &'a Scim,
    requests: &'a Requests,
    budget: &'a Budget,
}

impl Writer<'_> {
    /// The first phase: creations and reactivations, with the marker group's additions alongside, each
    /// principal added as soon as its id is known, one PATCH of 50 at a time (a first sync then ends
    /// with its last creation, not a long tail of PATCHes after it). Returns the ids the mirrored
    /// groups' additions need.
    async fn principals(
        &self,
        plan: &Plan,
        current: &Current,
        keep: Ids,
        applied: &mut Applied,
    ) -> HashMap<Principal, ScimId> {
        let (known, mut ids) = listed_ids(plan, current);
        // Only mirrored groups (and workspace assignments) need the created principals' ids after the
        // creations.
        let keep_learnt =
            keep == Ids::Keep || (plan.groups.iter()).any(|c| matches!(c, GroupChange::Add { .. }));
        let (learnt_tx, learnt_rx) = mpsc::unbounded::<ScimId>();
        let marking = async {
            let marking = plan.marker.as_ref()?;
            let marker = Marker {
                marking,
                id: current.marker_id.clone(),
            };
            Some(marker.run(known, learnt_rx, self).await)
        };
        let creating = async {
            let learnt_tx = learnt_tx;
            // At its size at once: grown by doubling, a first sync's 96,000 ids would be held twice
            // while the table is moved.
            let mut learnt = HashMap::with_capacity(if keep_learnt {
                plan.principals.len()
            } else {
                0
            });
            let mut results = std::pin::pin!(self.paced(&plan.principals, |change| {
                let learnt_tx = &learnt_tx;
                async move {
                    let done = self.principal_change(change).await;
                    if let Some(id) = done.learnt() {
                        // The marker may be done already (it failed): then nobody listens.
                        let _ = learnt_tx.unbounded_send(id.clone());
                    }
                    done
                }
            }));
            while let Some((change, done)) = results.next().await {
                if let (true, Some(id)) = (keep_learnt, done.learnt()) {
                    learnt.insert(change.principal().clone(), id.clone());
                }
                applied.record(Action::Principal(change), done);
            }
            learnt
        };
        let (learnt, marked) = futures::join!(creating, marking);
        // Moved, not copied, when nothing listed is needed (a first sync).
        if ids.is_empty() {
            ids = learnt;
        } else {
            ids.extend(learnt);
        }
        if let (Some(marking), Some(marked)) = (&plan.marker, marked) {
            marked.record(marking, applied);
        }
        ids
    }

    /// The second phase: the mirrored groups' changes in order (a group is created before members
    /// are added to it).
    async fn groups(
        &self,
        plan: &Plan,
        current: &Current,
        ids: &HashMap<Principal, ScimId>,
        applied: &mut Applied,
    ) {
        let mut group_ids: HashMap<String, ScimId> = (current.groups.iter())
            .map(|(name, group)| (name.clone(), group.id.clone()))
            .collect();
        for change in &plan.groups {
            let done = if self.budget.may_start() {
                self.group_change(change, ids, &mut group_ids).await
            } else {
                self.budget.deferred(NOT_STARTED)
            };
            applied.record(Action::Group(change), done);
        }
        applied.group_ids = group_ids;
    }

    /// The last phase: deprovisioning.
    async fn deprovision(&self, leaving: &[Deprovisioning], applied: &mut Applied) {
        let mut results = std::pin::pin!(self.paced(leaving, |leaving| self.leave(leaving)));
        while let Some((leaving, done)) = results.next().await {
            applied.record(Action::Deprovision(leaving), done);
        }
    }

    /// `act` on each of `items`, a few at a time (enough for the SCIM client's pace to be the bound), in
    /// order; an item not started when the budget is spent is deferred.
    fn paced<'a, T, F, Fut>(
        &'a self,
        items: &'a [T],
        act: F,
    ) -> impl Stream<Item = (&'a T, Done)> + 'a
    where
        F: Fn(&'a T) -> Fut + 'a,
        Fut: Future<Output = Done> + 'a,
    {
        futures::stream::iter(items)
            .map(move |item| {
                let action = act(item);
                async move {
                    // Checked as the action starts (the stream starts one as another ends), not when
                    // queued.
                    let done = if self.budget.may_start() {
                        action.await
                    } else {
                        self.budget.deferred(NOT_STARTED)
                    };
                    (item, done)
                }
            })
            .buffered(self.scim.writes_in_flight())
    }
}
