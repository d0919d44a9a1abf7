//! Applying a plan to a workspace, one function per phase of the [`Plan`]: principals (create,
//! reactivate) with the marker group's additions alongside, then the mirrored groups (which need the
//! ids of the principals just created), then deprovisioning. Within a phase the actions run a few at a
//! time (enough for the SCIM client's pace to be the bound); each failure is recorded and the others
//! go on. A dry run records every action as `planned` and sends nothing. Held changes are reported as
//! `skipped` with the reason. Once the run's time budget is spent no write starts (but the workspace's
//! first, so every run makes progress); writes in flight finish, and the rest is reported `deferred`
//! for the next run, which plans it again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use super::desired::Principal;
use super::plan::{
    Action, Current, Deprovisioning, GroupChange, Held, Leave, Marking, Plan, PrincipalChange,
    Removal,
};
use super::report::{ActionList, FailureReason, Outcome};
use crate::databricks::{
    Created, CreatedServicePrincipal, MAX_MEMBERS_PER_PATCH, Scim, ScimError, ScimId,
};
use crate::http::Requests;

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
    fn may_start(&self) -> bool {
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
        let ids = writer.principals(plan, current, &mut applied).await;
        writer.groups(plan, current, &ids, &mut applied).await;
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
        applied: &mut Applied,
    ) -> HashMap<Principal, ScimId> {
        let (known, mut ids) = listed_ids(plan, current);
        // Only mirrored groups need the created principals' ids after the creations.
        let keep_learnt = (plan.groups.iter()).any(|c| matches!(c, GroupChange::Add { .. }));
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
            let mut learnt = HashMap::new();
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
        ids.extend(learnt);
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

/// The marker group's outcomes: its creation when planned, and its additions.
struct Marked {
    create: Option<Done>,
    add: Done,
}

impl Marked {
    fn record(self, marking: &Marking, applied: &mut Applied) {
        if let Some(done) = self.create {
            applied.record(Action::CreateMarker(marking), done);
        }
        applied.record(Action::Mark(marking), self.add);
    }
}

/// The marker group's changes of one apply: create it if needed, then add the principals to mark, 50
/// per PATCH, one PATCH at a time, those already listed first and created ones (every principal the
/// plan creates is to be marked) as their ids arrive.
struct Marker<'a> {
    marking: &'a Marking,
    /// The group's id, when it exists.
    id: Option<ScimId>,
}

impl Marker<'_> {
    async fn run(
        self,
        known: Vec<ScimId>,
        learnt: mpsc::UnboundedReceiver<ScimId>,
        writer: &Writer<'_>,
    ) -> Marked {
        let name = &self.marking.group;
        let mut group_id = self.id;
        let create = match self.marking.create {
            true if writer.budget.may_start() => {
                Some(writer.create_group(name, &mut group_id).await)
            }
            true => Some(writer.budget.deferred(NOT_STARTED)),
            false => None,
        };
        let group_id = match group_id {
            Some(id) => Ok(id),
            None => writer.group_id_by_name(name).await,
        };
        let add = match group_id {
            Ok(id) => Self::add(self.marking, id, known, learnt, writer).await,
            Err(done) => done,
        };
        Marked { create, add }
    }

    /// Adds `known` at once and the learnt ids as they come, a full batch whenever there is one, the
    /// rest once no more ids can come.
    async fn add(
        marking: &Marking,
        group_id: ScimId,
        mut pending: Vec<ScimId>,
        mut learnt: mpsc::UnboundedReceiver<ScimId>,
        writer: &Writer<'_>,
    ) -> Done {
        let total = marking.listed.len() + marking.created;
        let mut additions = Additions::new(group_id, total, writer);
        let mut open = true;
        loop {
            while pending.len() >= MAX_MEMBERS_PER_PATCH || (!open && !pending.is_empty()) {
                let size = pending.len().min(MAX_MEMBERS_PER_PATCH);
                let batch: Vec<ScimId> = pending.drain(..size).collect();
                if let Err(done) = additions.send(&batch, true).await {
                    return done;
                }
            }
            if !open {
                break;
            }
            match learnt.next().await {
                Some(id) => pending.push(id),
                None => open = false,
            }
        }
        // Principals whose creation failed or was deferred have no id: they are reported already, and
        // the next run adds them.
        let (added, total) = (additions.added, additions.total);
        Done::Applied(Some(if added == total {
            format!("{added} member(s)")
        } else {
            format!("{added} of {total} member(s); the others were not created this run")
        }))
    }
}

/// One group's additions, sent a batch (one PATCH) at a time.
struct Additions<'a> {
    group_id: ScimId,
    /// Members to add in all, and added so far.
    total: usize,
    added: usize,
    writer: &'a Writer<'a>,
}

impl<'a> Additions<'a> {
    fn new(group_id: ScimId, total: usize, writer: &'a Writer<'a>) -> Self {
        Additions {
            group_id,
            total,
            added: 0,
            writer,
        }
    }

    /// Sends one batch (first checking the budget when `check_budget`); `Err` is how the whole
    /// addition ends: deferred (the budget is spent) or failed.
    async fn send(&mut self, batch: &[ScimId], check_budget: bool) -> Result<(), Done> {
        let (added, total, writer) = (self.added, self.total, self.writer);
        if check_budget && !writer.budget.may_start() {
            return Err(
                (writer.budget).deferred(&format!("added {added} of {total} member(s), then "))
            );
        }
        let sent = (writer.scim).add_members(&self.group_id, batch, writer.requests);
        if let Err(e) = sent.await {
            return Err(Done::Failed(match added {
                0 => e.to_string(),
                _ => format!("{e} (after adding {added} of {total} member(s))"),
            }));
        }
        self.added += batch.len();
        Ok(())
    }
}

/// How a failed principal change ends: a reactivation refused for a user deactivated in the Databricks
/// account is a failure of its own (an account admin must act), any other is failed.
fn failed(error: ScimError) -> Done {
    match error {
        ScimError::AccountDeactivated { .. } => Done::AccountDeactivated(error.to_string()),
        _ => Done::Failed(error.to_string()),
    }
}

fn group_failed(error: ScimError) -> Done {
    Done::Failed(error.to_string())
}

/// The `externalId` a principal is created with: its Entra object id, if known.
fn known(id: &uuid::Uuid) -> Option<&uuid::Uuid> {
    (!id.is_nil()).then_some(id)
}

/// The principal changes: SCIM calls by kind of principal.
impl Writer<'_> {
    async fn principal_change(&self, change: &PrincipalChange) -> Done {
        match change {
            PrincipalChange::Create {
                principal,
                display_name,
                external_id,
            } => match self
                .create(principal, display_name, known(external_id))
                .await
            {
                Ok(Some(id)) => Done::Created(id),
                Ok(None) => self.adopt(principal).await,
                Err(e) => failed(e),
            },
            PrincipalChange::Activate { id, principal } => {
                let result = self.set_active(id, principal, true).await;
                result.map_or_else(failed, |()| Done::Reactivated)
            }
        }
    }

    async fn leave(&self, leaving: &Deprovisioning) -> Done {
        let Deprovisioning {
            leave,
            id,
            principal,
        } = leaving;
        match leave {
            Leave::Deactivate => (self.set_active(id, principal, false).await)
                .map_or_else(failed, |()| Done::Deactivated),
            Leave::Remove => {
                (self.delete(id, principal).await).map_or_else(failed, |()| Done::Removed)
            }
        }
    }

    /// Creates the principal: its id, or `None` when the workspace says it exists already (409).
    async fn create(
        &self,
        principal: &Principal,
        display_name: &str,
        external_id: Option<&uuid::Uuid>,
    ) -> Result<Option<ScimId>, ScimError> {
        let (scim, requests) = (self.scim, self.requests);
        Ok(match principal {
            Principal::User(name) => {
                match (scim.create_user(name.as_str(), display_name, external_id, requests)).await?
                {
                    Created::New(user) => Some(user.id),
                    Created::AlreadyExists => None,
                }
            }
            Principal::ServicePrincipal(app) => {
                let created = scim.create_service_principal(
                    app.as_str(),
                    display_name,
                    external_id,
                    requests,
                );
                match created.await? {
                    CreatedServicePrincipal::New(sp) => Some(sp.id),
                    CreatedServicePrincipal::AlreadyExists => None,
                }
            }
        })
    }

    async fn set_active(
        &self,
        id: &str,
        principal: &Principal,
        active: bool,
    ) -> Result<(), ScimError> {
        let (scim, requests) = (self.scim, self.requests);
        match principal {
            Principal::User(name) => scim.set_active(id, name.as_str(), active, requests).await,
            Principal::ServicePrincipal(app) => {
                (scim.set_service_principal_active(id, app.as_str(), active, requests)).await
            }
        }
    }

    async fn delete(&self, id: &str, principal: &Principal) -> Result<(), ScimError> {
        let (scim, requests) = (self.scim, self.requests);
        match principal {
            Principal::User(name) => scim.delete_user(id, name.as_str(), requests).await,
            Principal::ServicePrincipal(app) => {
                (scim.delete_service_principal(id, app.as_str(), requests)).await
            }
        }
    }

    /// The principal's id and whether it is active, looked up by key.
    async fn find(&self, principal: &Principal) -> Result<Option<(ScimId, bool)>, ScimError> {
        let (scim, requests) = (self.scim, self.requests);
        Ok(match principal {
            Principal::User(name) => {
                (scim.find_user(name.as_str(), requests).await?).map(|u| (u.id, u.active))
            }
            Principal::ServicePrincipal(app) => {
                (scim.find_service_principal(app.as_str(), requests).await?)
                    .map(|sp| (sp.id, sp.active))
            }
        })
    }

    /// A 409 on create: the principal exists (a user often from a first sign-in, or not yet listed).
    /// Look it up and reactivate it if needed; it counts as existing, not as a failure.
    async fn adopt(&self, principal: &Principal) -> Done {
        match self.find(principal).await {
            Ok(Some((id, false))) => match self.set_active(&id, principal, true).await {
                Ok(()) => Done::Reactivated,
                Err(e) => {
                    let cause =
                        format!("already exists but inactive, and reactivating it failed: {e}");
                    match failed(e) {
                        Done::AccountDeactivated(_) => Done::AccountDeactivated(cause),
                        _ => Done::Failed(cause),
                    }
                }
            },
            Ok(Some((id, true))) => Done::AlreadyExisted {
                id: Some(id),
                detail: "already exists (created outside this sync, e.g. at first sign-in)".into(),
            },
            Ok(None) => Done::AlreadyExisted {
                id: None,
                detail: "already exists (the workspace said so; not yet visible to a lookup)"
                    .into(),
            },
            Err(e) => Done::AlreadyExisted {
                id: None,
                detail: format!("already exists (the workspace said so; the lookup failed: {e})"),
            },
        }
    }
}

/// The group changes; an `Err` is how a change ended early (its group not found, or a failure).
impl Writer<'_> {
    async fn group_change(
        &self,
        change: &GroupChange,
        ids: &HashMap<Principal, ScimId>,
        group_ids: &mut HashMap<String, ScimId>,
    ) -> Done {
        let result = match change {
            GroupChange::Create { group } => {
                let mut id = None;
                let done = self.create_group(group, &mut id).await;
                group_ids.extend(id.map(|id| (group.clone(), id)));
                Ok(done)
            }
            GroupChange::AddEntitlements {
                group,
                entitlements,
            } => self.add_entitlements(group, entitlements, group_ids).await,
            GroupChange::Add { group, members } => {
                self.add_members(group, members, ids, group_ids).await
            }
            GroupChange::Remove(removal) => self.remove_member(removal, group_ids).await,
        };
        match result {
            Ok(done) | Err(done) => done,
        }
    }

    /// Creates a group; its id goes to `id`.
    async fn create_group(&self, name: &str, id: &mut Option<ScimId>) -> Done {
        match self.scim.create_group(name, &[], self.requests).await {
            Ok(group) => {
                *id = Some(group.id);
                Done::Applied(None)
            }
            Err(e) => group_failed(e),
        }
    }

    async fn add_entitlements(
        &self,
        group: &str,
        entitlements: &[String],
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<Done, Done> {
        let group_id = self.group_id(group, group_ids).await?;
        let added = self
            .scim
            .add_entitlements(&group_id, entitlements, self.requests);
        added.await.map_err(group_failed)?;
        Ok(Done::Applied(Some(entitlements.join(", "))))
    }

    /// One PATCH per batch, the budget checked between them: a long first sync stops in time.
    async fn add_members(
        &self,
        group: &str,
        members: &[Principal],
        ids: &HashMap<Principal, ScimId>,
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<Done, Done> {
        let group_id = self.group_id(group, group_ids).await?;
        // Principals whose creation failed have no id: they are reported already, and the next run
        // adds them.
        let members: Vec<ScimId> = members.iter().filter_map(|n| ids.get(n).cloned()).collect();
        let mut additions = Additions::new(group_id, members.len(), self);
        for (i, batch) in members.chunks(MAX_MEMBERS_PER_PATCH).enumerate() {
            additions.send(batch, i > 0).await?;
        }
        Ok(Done::Applied(Some(format!(
            "{} member(s)",
            additions.added
        ))))
    }

    async fn remove_member(
        &self,
        removal: &Removal,
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<Done, Done> {
        let group_id = self.group_id(&removal.group, group_ids).await?;
        let removed = self
            .scim
            .remove_member(&group_id, &removal.id, self.requests);
        removed.await.map_err(group_failed)?;
        Ok(Done::Applied(None))
    }

    /// The id of a group created or read this run, else looked up by name.
    async fn group_id(
        &self,
        group: &str,
        group_ids: &HashMap<String, ScimId>,
    ) -> Result<ScimId, Done> {
        match group_ids.get(group) {
            Some(id) => Ok(id.clone()),
            None => self.group_id_by_name(group).await,
        }
    }

    /// The id of a group looked up by name.
    async fn group_id_by_name(&self, group: &str) -> Result<ScimId, Done> {
        match self.scim.find_group(group, self.requests).await {
            Ok(Some(found)) => Ok(found.id),
            Ok(None) => Err(Done::Failed(format!("group {group} does not exist"))),
            Err(e) => Err(group_failed(e)),
        }
    }
}
