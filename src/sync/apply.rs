//! Applying a plan to a workspace, in phases: principals (create, reactivate), then the groups and
//! their new members (which need the ids of the principals just created), then deprovisioning. Within
//! a phase the actions run a few at a time (enough for the SCIM client's pace to be the bound); each
//! failure is recorded and the others go on. A dry run records every action as `planned` and sends
//! nothing. Held deprovisionings are reported as `skipped` with the reason. Once the run's time budget
//! is spent no write starts (but the workspace's first, so every run makes progress); writes in flight
//! finish, and the rest is reported `deferred` for the next run, which plans it again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream::BoxStream;

use super::desired::Principal;
use super::plan::{Action, Current, Marking, Plan, Removal};
use super::report::{ActionList, FailureReason, Outcome};
use crate::databricks::{Created, MAX_MEMBERS_PER_PATCH, Scim, ScimError, ScimId};
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

/// How one action ended; `id` is the principal's id when the action learnt it.
enum Done {
    Created(ScimId),
    Reactivated,
    AlreadyExisted {
        id: Option<ScimId>,
        detail: String,
    },
    Deprovisioned,
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
}

fn is_principal_change(action: &&Action) -> bool {
    matches!(action, Action::Create { .. } | Action::Activate { .. })
}

fn is_group_change(action: &&Action) -> bool {
    matches!(
        action,
        Action::CreateGroup { .. }
            | Action::AddToGroup { .. }
            | Action::Mark(_)
            | Action::RemoveFromGroup(_)
            | Action::AddEntitlements { .. }
    )
}

fn is_deprovisioning(action: &&Action) -> bool {
    matches!(action, Action::Deactivate { .. } | Action::Remove { .. })
}

/// Runs the plan's actions against `scim` (or only lists them when `dry_run`). `current` gives the ids
/// of the principals and of the groups the workspace already had.
///
/// The marker group's additions run alongside the creations, each principal added as soon as its id is
/// known, one PATCH of 50 at a time: a first sync then ends with its last creation, not a long tail of
/// PATCHes after it.
pub async fn apply(
    plan: &Plan,
    current: &Current,
    managed_group: &str,
    scim: &Scim,
    requests: &Requests,
    dry_run: bool,
    budget: &Budget,
) -> Applied {
    let mut applied = Applied::default();
    if dry_run {
        for action in &plan.actions {
            applied
                .actions
                .push(action.kind(), Outcome::Planned, || (action.target(), None));
        }
    } else {
        let marker_create = plan.actions.iter().find(
            |a| matches!(a, Action::CreateGroup { display_name } if display_name == managed_group),
        );
        let marker_add = plan.actions.iter().find_map(|a| match a {
            Action::Mark(marking) => Some((a, &**marking)),
            _ => None,
        });
        let is_marker = |a: &Action| {
            marker_create.is_some_and(|m| std::ptr::eq(m, a))
                || marker_add.is_some_and(|(m, _)| std::ptr::eq(m, a))
        };
        // The ids group additions need: of listed principals now, of created ones as they are learnt.
        // The marker's additions take every created principal (all of them are to be marked) and
        // these; only mirrored groups need a map of ids by principal.
        let mut known: Vec<ScimId> = Vec::new();
        let mut ids: HashMap<Principal, ScimId> = HashMap::new();
        let mirrored = plan.actions.iter().filter_map(|a| match a {
            Action::AddToGroup { members, .. } => Some(members),
            _ => None,
        });
        let marking = marker_add.map(|(_, marking)| &marking.listed);
        if marking.is_some_and(|listed| !listed.is_empty()) || mirrored.clone().next().is_some() {
            let listed = current.lookup();
            for key in marking.into_iter().flatten() {
                if let Some(present) = listed.get(key) {
                    known.push(present.id.clone());
                }
            }
            for key in mirrored.flatten() {
                if let Some(present) = listed.get(key) {
                    ids.entry(key.clone()).or_insert_with(|| present.id.clone());
                }
            }
        }
        // Only mirrored groups need the created principals' ids after the creations.
        let keep_learnt = plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddToGroup { .. }));

        let (learnt_tx, learnt_rx) = mpsc::unbounded::<ScimId>();
        let marker = Marker {
            create: marker_create,
            add: marker_add.map(|(_, marking)| marking),
            id: current.marker_id.clone(),
            name: managed_group,
        };
        let marking = marker.run(known, learnt_rx, scim, requests, budget);
        let creating = async {
            let learnt_tx = learnt_tx;
            let mut results = changes(
                &plan.actions,
                is_principal_change,
                scim,
                requests,
                budget,
                Some(&learnt_tx),
            );
            let mut learnt = HashMap::new();
            while let Some((action, done)) = results.next().await {
                if let (true, Some(principal), Some(id)) =
                    (keep_learnt, action.principal(), done.learnt())
                {
                    learnt.insert(principal.clone(), id.clone());
                }
                applied.record(action, done);
            }
            learnt
        };
        let (learnt, marked) = futures::join!(creating, marking);
        ids.extend(learnt);

        // The groups in order (a group is created before members are added to it); the marker's
        // changes are recorded where the plan has them.
        let mut marked = marked.into_iter();
        let mut group_ids: HashMap<String, ScimId> = HashMap::new();
        for (name, group) in &current.groups {
            group_ids.insert(name.clone(), group.id.clone());
        }
        for action in plan.actions.iter().filter(is_group_change) {
            let done = if is_marker(action) {
                match marked.next() {
                    Some(done) => done,
                    None => {
                        Done::Failed("internal error: the marker group's change was lost".into())
                    }
                }
            } else if budget.may_start() {
                group_action(action, scim, requests, &ids, &mut group_ids, budget).await
            } else {
                budget.deferred("not started: ")
            };
            applied.record(action, done);
        }
        let mut results = changes(
            &plan.actions,
            is_deprovisioning,
            scim,
            requests,
            budget,
            None,
        );
        while let Some((action, done)) = results.next().await {
            applied.record(action, done);
        }
    }
    let held = plan.held_reason.as_deref().unwrap_or("held");
    for action in &plan.held {
        applied.actions.push(action.kind(), Outcome::Skipped, || {
            (action.target(), Some(held.to_owned()))
        });
    }
    applied
}

/// The principal changes among `actions`, a few at a time (enough for the SCIM client's pace to be the
/// bound), in the plan's order; each learnt id is sent to `learnt` as soon as it is known.
fn changes<'a: 'b, 'b>(
    actions: &'a [Action],
    which: fn(&&Action) -> bool,
    scim: &'b Scim,
    requests: &'b Requests,
    budget: &'b Budget,
    learnt: Option<&'b mpsc::UnboundedSender<ScimId>>,
) -> BoxStream<'b, (&'a Action, Done)> {
    futures::stream::iter(actions.iter().filter(which))
        .map(move |action| async move {
            // Checked as the action starts (the stream starts one as another ends), not when queued.
            let done = if budget.may_start() {
                principal_action(action, scim, requests).await
            } else {
                budget.deferred("not started: ")
            };
            if let (Some(learnt), Some(id)) = (learnt, done.learnt()) {
                // The marker may be done already (it failed): then nobody listens.
                let _ = learnt.unbounded_send(id.clone());
            }
            (action, done)
        })
        .buffered(scim.writes_in_flight())
        .boxed()
}

/// The marker group's changes of one apply: create it if needed, then add the principals to mark, 50
/// per PATCH, one PATCH at a time, those already listed first and created ones (every principal the
/// plan creates is to be marked) as their ids arrive.
struct Marker<'a> {
    create: Option<&'a Action>,
    add: Option<&'a Marking>,
    /// The group's id, when it exists.
    id: Option<ScimId>,
    name: &'a str,
}

impl<'a> Marker<'a> {
    /// The outcomes of the create (if planned) and the additions (if planned), in that order.
    async fn run(
        self,
        known: Vec<ScimId>,
        mut learnt: mpsc::UnboundedReceiver<ScimId>,
        scim: &Scim,
        requests: &Requests,
        budget: &Budget,
    ) -> Vec<Done> {
        let mut outcomes = Vec::new();
        let mut group_id = self.id;
        if self.create.is_some() {
            outcomes.push(if budget.may_start() {
                match scim.create_group(self.name, &[], requests).await {
                    Ok(group) => {
                        group_id = Some(group.id);
                        Done::Applied(None)
                    }
                    Err(e) => Done::Failed(e.to_string()),
                }
            } else {
                budget.deferred("not started: ")
            });
        }
        let Some(marking) = self.add else {
            return outcomes;
        };
        let group_id = match group_id {
            Some(id) => id,
            None => match group_id_by_name(self.name, scim, requests).await {
                Ok(id) => id,
                Err(done) => {
                    outcomes.push(done);
                    return outcomes;
                }
            },
        };
        let mut pending = known;
        let total = marking.listed.len() + marking.created;
        let mut additions = Additions::new(group_id, total, scim, requests, budget);
        let mut open = true;
        loop {
            // A full batch whenever there is one; the rest once no more ids can come.
            while pending.len() >= MAX_MEMBERS_PER_PATCH || (!open && !pending.is_empty()) {
                let size = pending.len().min(MAX_MEMBERS_PER_PATCH);
                let batch: Vec<ScimId> = pending.drain(..size).collect();
                if let Err(done) = additions.send(&batch, true).await {
                    outcomes.push(done);
                    return outcomes;
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
        let (added, total) = (additions.added, additions.total);
        // Principals whose creation failed or was deferred have no id: they are reported already, and
        // the next run adds them.
        outcomes.push(Done::Applied(Some(if added == total {
            format!("{added} member(s)")
        } else {
            format!("{added} of {total} member(s); the others were not created this run")
        })));
        outcomes
    }
}

/// One group's additions, sent a batch (one PATCH) at a time.
struct Additions<'a> {
    group_id: ScimId,
    /// Members to add in all, and added so far.
    total: usize,
    added: usize,
    scim: &'a Scim,
    requests: &'a Requests,
    budget: &'a Budget,
}

impl<'a> Additions<'a> {
    fn new(
        group_id: ScimId,
        total: usize,
        scim: &'a Scim,
        requests: &'a Requests,
        budget: &'a Budget,
    ) -> Self {
        Additions {
            group_id,
            total,
            added: 0,
            scim,
            requests,
            budget,
        }
    }

    /// Sends one batch (first checking the budget when `check_budget`); `Err` is how the whole
    /// addition ends: deferred (the budget is spent) or failed.
    async fn send(&mut self, batch: &[ScimId], check_budget: bool) -> Result<(), Done> {
        let (added, total) = (self.added, self.total);
        if check_budget && !self.budget.may_start() {
            return Err(self
                .budget
                .deferred(&format!("added {added} of {total} member(s), then ")));
        }
        if let Err(e) = self
            .scim
            .add_members(&self.group_id, batch, self.requests)
            .await
        {
            return Err(Done::Failed(match added {
                0 => e.to_string(),
                _ => format!("{e} (after adding {added} of {total} member(s))"),
            }));
        }
        self.added += batch.len();
        Ok(())
    }
}

impl Applied {
    fn tally(&mut self, action: &Action) -> Option<&mut Tally> {
        match action.principal()? {
            Principal::User(_) => Some(&mut self.users),
            Principal::ServicePrincipal(_) => Some(&mut self.service_principals),
        }
    }

    fn record(&mut self, action: &Action, done: Done) {
        let mut reason = None;
        let (outcome, detail) = match done {
            Done::Created(_) => {
                self.count(action, |t| t.created += 1);
                (Outcome::Applied, None)
            }
            Done::Reactivated => {
                self.count(action, |t| t.reactivated += 1);
                (Outcome::Applied, None)
            }
            Done::AlreadyExisted { detail, .. } => {
                self.count(action, |t| t.already_existing += 1);
                (Outcome::Skipped, Some(detail))
            }
            Done::Deprovisioned => {
                let removed = matches!(action, Action::Remove { .. });
                self.count(action, |t| {
                    if removed {
                        t.removed += 1;
                    } else {
                        t.deactivated += 1;
                    }
                });
                (Outcome::Applied, None)
            }
            Done::Applied(detail) => (Outcome::Applied, detail),
            Done::Deferred(detail) => {
                self.deferred += 1;
                (Outcome::Deferred, Some(detail))
            }
            Done::Failed(cause) => {
                match self.tally(action) {
                    Some(tally) => tally.failed += 1,
                    None => self.failed_group_changes += 1,
                }
                (Outcome::Failed, Some(cause))
            }
            Done::AccountDeactivated(cause) => {
                self.count(action, |t| {
                    t.failed += 1;
                    t.account_deactivated += 1;
                });
                reason = Some(FailureReason::AccountDeactivated);
                (Outcome::Failed, Some(cause))
            }
        };
        self.actions
            .push_with_reason(action.kind(), outcome, reason, || (action.target(), detail));
    }

    fn count(&mut self, action: &Action, change: impl FnOnce(&mut Tally)) {
        if let Some(tally) = self.tally(action) {
            change(tally);
        }
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

async fn principal_action(action: &Action, scim: &Scim, requests: &Requests) -> Done {
    let done = |result: Result<(), ScimError>, ok: Done| result.map_or_else(failed, |()| ok);
    match action {
        Action::Create {
            principal,
            display_name,
            external_id,
        } => match scim
            .principals(principal.kind())
            .create(principal.key(), display_name, known(external_id), requests)
            .await
        {
            Ok(Created::New(id)) => Done::Created(id),
            Ok(Created::AlreadyExists) => adopt(action, scim, requests).await,
            Err(e) => failed(e),
        },
        Action::Activate { id, principal } => done(
            set_active(scim, id, principal, true, requests).await,
            Done::Reactivated,
        ),
        Action::Deactivate { id, principal } => done(
            set_active(scim, id, principal, false, requests).await,
            Done::Deprovisioned,
        ),
        Action::Remove { id, principal } => done(
            scim.principals(principal.kind())
                .delete(id, principal.key(), requests)
                .await,
            Done::Deprovisioned,
        ),
        Action::CreateGroup { .. }
        | Action::AddToGroup { .. }
        | Action::Mark(_)
        | Action::RemoveFromGroup(_)
        | Action::AddEntitlements { .. } => {
            Done::Failed("internal error: a group action in the principal phase".to_owned())
        }
    }
}

/// The `externalId` a principal is created with: its Entra object id, if known.
fn known(id: &uuid::Uuid) -> Option<&uuid::Uuid> {
    (!id.is_nil()).then_some(id)
}

async fn set_active(
    scim: &Scim,
    id: &str,
    principal: &Principal,
    active: bool,
    requests: &Requests,
) -> Result<(), ScimError> {
    scim.principals(principal.kind())
        .set_active(id, principal.key(), active, requests)
        .await
}

/// The principal's id and whether it is active, looked up by key.
async fn find(
    principal: &Principal,
    scim: &Scim,
    requests: &Requests,
) -> Result<Option<(ScimId, bool)>, ScimError> {
    let found = scim
        .principals(principal.kind())
        .find(principal.key(), requests)
        .await?;
    Ok(found.map(|found| (found.id, found.active)))
}

async fn group_action(
    action: &Action,
    scim: &Scim,
    requests: &Requests,
    ids: &HashMap<Principal, ScimId>,
    group_ids: &mut HashMap<String, ScimId>,
    budget: &Budget,
) -> Done {
    match action {
        Action::CreateGroup { display_name } => {
            match scim.create_group(display_name, &[], requests).await {
                Ok(group) => {
                    group_ids.insert(display_name.clone(), group.id);
                    Done::Applied(None)
                }
                Err(e) => Done::Failed(e.to_string()),
            }
        }
        Action::AddToGroup { group, members } => {
            let group_id = match group_id(group, scim, requests, group_ids).await {
                Ok(id) => id,
                Err(done) => return done,
            };
            // Principals whose creation failed have no id: they are reported already, and the next run
            // adds them.
            let members: Vec<ScimId> = members.iter().filter_map(|n| ids.get(n).cloned()).collect();
            // One PATCH per batch, the budget checked between them: a long first sync stops in time.
            let mut additions = Additions::new(group_id, members.len(), scim, requests, budget);
            for (i, batch) in members.chunks(MAX_MEMBERS_PER_PATCH).enumerate() {
                if let Err(done) = additions.send(batch, i > 0).await {
                    return done;
                }
            }
            Done::Applied(Some(format!("{} member(s)", additions.added)))
        }
        Action::RemoveFromGroup(removal) => {
            let Removal { group, id, .. } = &**removal;
            let group_id = match group_id(group, scim, requests, group_ids).await {
                Ok(group_id) => group_id,
                Err(done) => return done,
            };
            scim.remove_member(&group_id, id, requests)
                .await
                .map_or_else(|e| Done::Failed(e.to_string()), |()| Done::Applied(None))
        }
        Action::AddEntitlements {
            group,
            entitlements,
        } => {
            let group_id = match group_id(group, scim, requests, group_ids).await {
                Ok(group_id) => group_id,
                Err(done) => return done,
            };
            scim.add_entitlements(&group_id, entitlements, requests)
                .await
                .map_or_else(
                    |e| Done::Failed(e.to_string()),
                    |()| Done::Applied(Some(entitlements.join(", "))),
                )
        }
        Action::Mark(_) => {
            Done::Failed("internal error: the marker group's change outside its run".to_owned())
        }
        _ => Done::Failed("internal error: a principal action in the group phase".to_owned()),
    }
}

/// The id of a group created or read this run, else looked up by name.
async fn group_id(
    group: &str,
    scim: &Scim,
    requests: &Requests,
    group_ids: &HashMap<String, ScimId>,
) -> Result<ScimId, Done> {
    if let Some(id) = group_ids.get(group) {
        return Ok(id.clone());
    }
    group_id_by_name(group, scim, requests).await
}

/// The id of a group looked up by name.
async fn group_id_by_name(group: &str, scim: &Scim, requests: &Requests) -> Result<ScimId, Done> {
    match scim.find_group(group, requests).await {
        Ok(Some(found)) => Ok(found.id),
        Ok(None) => Err(Done::Failed(format!("group {group} does not exist"))),
        Err(e) => Err(Done::Failed(e.to_string())),
    }
}

/// A 409 on create: the principal exists (a user often from a first sign-in, or not yet listed). Look it
/// up and reactivate it if needed; it counts as existing, not as a failure.
async fn adopt(action: &Action, scim: &Scim, requests: &Requests) -> Done {
    let Some(principal) = action.principal() else {
        return Done::Failed("internal error: adopting a group".to_owned());
    };
    match find(principal, scim, requests).await {
        Ok(Some((id, false))) => match set_active(scim, &id, principal, true, requests).await {
            Ok(()) => Done::Reactivated,
            Err(e) => {
                let cause = format!("already exists but inactive, and reactivating it failed: {e}");
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
            detail: "already exists (the workspace said so; not yet visible to a lookup)".into(),
        },
        Err(e) => Done::AlreadyExisted {
            id: None,
            detail: format!("already exists (the workspace said so; the lookup failed: {e})"),
        },
    }
}
