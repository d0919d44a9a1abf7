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

use super::desired::Principal;
use super::plan::{Action, Current, Plan};
use super::report::{ActionReport, Outcome};
use crate::databricks::{Created, CreatedServicePrincipal, MAX_MEMBERS_PER_PATCH, Scim, ScimError};
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
}

/// What applying came to.
#[derive(Debug, Default)]
pub struct Applied {
    pub actions: Vec<ActionReport>,
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
    Created(String),
    Reactivated,
    AlreadyExisted {
        id: Option<String>,
        detail: String,
    },
    Deprovisioned,
    Applied(Option<String>),
    Failed(String),
    /// Not started (or not finished) when the budget was spent; the next run plans it again.
    Deferred(String),
}

/// Runs the plan's actions against `scim` (or only lists them when `dry_run`). `current` gives the ids
/// of the principals and of the groups the workspace already had.
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
    let held = plan.held_reason.as_deref().unwrap_or("held");
    if dry_run {
        applied.actions = plan
            .actions
            .iter()
            .map(|a| report(a, Outcome::Planned, None))
            .collect();
    } else {
        let mut ids: HashMap<Principal, String> = current
            .principal_ids()
            .map(|(key, id)| (key, id.to_owned()))
            .collect();
        let principals = |a: &&Action| matches!(a, Action::Create { .. } | Action::Activate { .. });
        let groups = |a: &&Action| {
            matches!(
                a,
                Action::CreateGroup { .. }
                    | Action::AddToGroup { .. }
                    | Action::RemoveFromGroup { .. }
                    | Action::AddEntitlements { .. }
            )
        };
        let leavers = |a: &&Action| matches!(a, Action::Deactivate { .. } | Action::Remove { .. });

        for (action, done) in concurrently(
            plan.actions.iter().filter(principals),
            scim,
            requests,
            budget,
        )
        .await
        {
            applied.record(&action, done, &mut ids);
        }
        // Groups in order: a group is created before members are added to it.
        let mut group_ids: HashMap<String, String> = HashMap::new();
        if let Some(id) = &current.marker_id {
            group_ids.insert(managed_group.to_owned(), id.clone());
        }
        for (name, group) in &current.groups {
            group_ids.insert(name.clone(), group.id.clone());
        }
        for action in plan.actions.iter().filter(groups) {
            let done = if budget.may_start() {
                group_action(action, scim, requests, &ids, &mut group_ids, budget).await
            } else {
                budget.deferred("not started: ")
            };
            applied.record(action, done, &mut ids);
        }
        for (action, done) in
            concurrently(plan.actions.iter().filter(leavers), scim, requests, budget).await
        {
            applied.record(&action, done, &mut ids);
        }
    }
    applied.actions.extend(
        plan.held
            .iter()
            .map(|a| report(a, Outcome::Skipped, Some(held.to_owned()))),
    );
    applied
}

impl Applied {
    fn tally(&mut self, action: &Action) -> Option<&mut Tally> {
        match action.principal()? {
            Principal::User(_) => Some(&mut self.users),
            Principal::ServicePrincipal(_) => Some(&mut self.service_principals),
        }
    }

    fn record(&mut self, action: &Action, done: Done, ids: &mut HashMap<Principal, String>) {
        let mut learnt = |id: Option<String>| {
            if let (Action::Create { principal, .. }, Some(id)) = (action, id) {
                ids.insert(principal.clone(), id);
            }
        };
        let (outcome, detail) = match done {
            Done::Created(id) => {
                learnt(Some(id));
                self.count(action, |t| t.created += 1);
                (Outcome::Applied, None)
            }
            Done::Reactivated => {
                self.count(action, |t| t.reactivated += 1);
                (Outcome::Applied, None)
            }
            Done::AlreadyExisted { id, detail } => {
                learnt(id);
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
        };
        self.actions.push(report(action, outcome, detail));
    }

    fn count(&mut self, action: &Action, change: impl FnOnce(&mut Tally)) {
        if let Some(tally) = self.tally(action) {
            change(tally);
        }
    }
}

/// Runs independent actions a few at a time, keeping the plan's order in the results.
async fn concurrently<'a>(
    actions: impl Iterator<Item = &'a Action>,
    scim: &Scim,
    requests: &Requests,
    budget: &Budget,
) -> Vec<(Action, Done)> {
    let actions: Vec<Action> = actions.cloned().collect();
    futures::stream::iter(actions)
        .map(|action| async move {
            // Checked as the action starts (the stream starts one as another ends), not when queued.
            let done = if budget.may_start() {
                principal_action(&action, scim, requests).await
            } else {
                budget.deferred("not started: ")
            };
            (action, done)
        })
        .buffered(scim.writes_in_flight())
        .collect()
        .await
}

async fn principal_action(action: &Action, scim: &Scim, requests: &Requests) -> Done {
    let failed = |e: ScimError| Done::Failed(e.to_string());
    let done = |result: Result<(), ScimError>, ok: Done| result.map_or_else(failed, |()| ok);
    match action {
        Action::Create {
            principal: Principal::User(name),
            display_name,
        } => match scim
            .create_user(name.as_str(), display_name, requests)
            .await
        {
            Ok(Created::New(user)) => Done::Created(user.id),
            Ok(Created::AlreadyExists) => adopt(action, scim, requests).await,
            Err(e) => failed(e),
        },
        Action::Create {
            principal: Principal::ServicePrincipal(app),
            display_name,
        } => match scim
            .create_service_principal(app.as_str(), display_name, requests)
            .await
        {
            Ok(CreatedServicePrincipal::New(sp)) => Done::Created(sp.id),
            Ok(CreatedServicePrincipal::AlreadyExists) => adopt(action, scim, requests).await,
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
        Action::Remove { id, principal } => {
            let result = match principal {
                Principal::User(name) => scim.delete_user(id, name.as_str(), requests).await,
                Principal::ServicePrincipal(app) => {
                    scim.delete_service_principal(id, app.as_str(), requests)
                        .await
                }
            };
            done(result, Done::Deprovisioned)
        }
        Action::CreateGroup { .. }
        | Action::AddToGroup { .. }
        | Action::RemoveFromGroup { .. }
        | Action::AddEntitlements { .. } => {
            Done::Failed("internal error: a group action in the principal phase".to_owned())
        }
    }
}

async fn set_active(
    scim: &Scim,
    id: &str,
    principal: &Principal,
    active: bool,
    requests: &Requests,
) -> Result<(), ScimError> {
    match principal {
        Principal::User(name) => scim.set_active(id, name.as_str(), active, requests).await,
        Principal::ServicePrincipal(app) => {
            scim.set_service_principal_active(id, app.as_str(), active, requests)
                .await
        }
    }
}

/// The principal's id and whether it is active, looked up by key.
async fn find(
    principal: &Principal,
    scim: &Scim,
    requests: &Requests,
) -> Result<Option<(String, bool)>, ScimError> {
    Ok(match principal {
        Principal::User(name) => scim
            .find_user(name.as_str(), requests)
            .await?
            .map(|u| (u.id, u.active)),
        Principal::ServicePrincipal(app) => scim
            .find_service_principal(app.as_str(), requests)
            .await?
            .map(|sp| (sp.id, sp.active)),
    })
}

async fn group_action(
    action: &Action,
    scim: &Scim,
    requests: &Requests,
    ids: &HashMap<Principal, String>,
    group_ids: &mut HashMap<String, String>,
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
            let members: Vec<String> = members.iter().filter_map(|n| ids.get(n).cloned()).collect();
            // One PATCH per batch, the budget checked between them: a long first sync stops in time.
            let mut added = 0;
            for (i, batch) in members.chunks(MAX_MEMBERS_PER_PATCH).enumerate() {
                if i > 0 && !budget.may_start() {
                    return budget.deferred(&format!(
                        "added {added} of {} member(s), then ",
                        members.len()
                    ));
                }
                if let Err(e) = scim.add_members(&group_id, batch, requests).await {
                    return Done::Failed(match added {
                        0 => e.to_string(),
                        _ => format!("{e} (after adding {added} of {} member(s))", members.len()),
                    });
                }
                added += batch.len();
            }
            Done::Applied(Some(format!("{added} member(s)")))
        }
        Action::RemoveFromGroup { group, id, .. } => {
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
        _ => Done::Failed("internal error: a principal action in the group phase".to_owned()),
    }
}

/// The id of a group created or read this run, else looked up by name.
async fn group_id(
    group: &str,
    scim: &Scim,
    requests: &Requests,
    group_ids: &HashMap<String, String>,
) -> Result<String, Done> {
    if let Some(id) = group_ids.get(group) {
        return Ok(id.clone());
    }
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
            Err(e) => Done::Failed(format!(
                "already exists but inactive, and reactivating it failed: {e}"
            )),
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

fn report(action: &Action, outcome: Outcome, detail: Option<String>) -> ActionReport {
    ActionReport {
        kind: action.kind().to_owned(),
        target: action.target(),
        outcome,
        detail,
    }
}
