//! Applying a plan to a workspace, in phases: users (create, reactivate), then the marker group and its
//! new members (which need the ids of the users just created), then deprovisioning. Within a phase the
//! actions run a few at a time (the SCIM client also paces them); each failure is recorded and the
//! others go on. A dry run records every action as `planned` and sends nothing. Held deprovisionings are
//! reported as `skipped` with the reason.

use std::collections::HashMap;

use futures::StreamExt;

use super::desired::UserName;
use super::plan::{Action, Current, Plan};
use super::report::{ActionReport, Outcome};
use crate::databricks::{Created, Scim};
use crate::http::Requests;

/// Actions in flight at once per workspace.
const CONCURRENCY: usize = 4;

/// What applying came to.
#[derive(Debug, Default)]
pub struct Applied {
    pub actions: Vec<ActionReport>,
    pub created: u64,
    pub reactivated: u64,
    /// Creations answered "already exists": the user is there.
    pub already_existing: u64,
    pub deactivated: u64,
    pub removed: u64,
    pub failed: u64,
}

/// How one action ended; `id` is the user's id when the action learnt it.
enum Done {
    Created(String),
    Reactivated,
    AlreadyExisted { id: Option<String>, detail: String },
    Deprovisioned,
    Applied(Option<String>),
    Failed(String),
}

/// Runs the plan's actions against `scim` (or only lists them when `dry_run`). `current` gives the ids
/// of the users and of the marker group the workspace already had.
pub async fn apply(
    plan: &Plan,
    current: &Current,
    managed_group: &str,
    scim: &Scim,
    requests: &Requests,
    dry_run: bool,
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
        let mut ids: HashMap<UserName, String> = current
            .users
            .iter()
            .filter_map(|u| Some((UserName::parse(&u.user_name)?, u.id.clone())))
            .collect();
        let users =
            |a: &&Action| matches!(a, Action::CreateUser { .. } | Action::ActivateUser { .. });
        let groups = |a: &&Action| {
            matches!(
                a,
                Action::CreateGroup { .. }
                    | Action::AddToGroup { .. }
                    | Action::RemoveFromGroup { .. }
                    | Action::AddEntitlements { .. }
            )
        };
        let leavers =
            |a: &&Action| matches!(a, Action::DeactivateUser { .. } | Action::RemoveUser { .. });

        for (action, done) in concurrently(plan.actions.iter().filter(users), scim, requests).await
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
            let done = group_action(action, scim, requests, &ids, &mut group_ids).await;
            applied.record(action, done, &mut ids);
        }
        for (action, done) in
            concurrently(plan.actions.iter().filter(leavers), scim, requests).await
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
    fn record(&mut self, action: &Action, done: Done, ids: &mut HashMap<UserName, String>) {
        let entry = match done {
            Done::Created(id) => {
                self.created += 1;
                if let Action::CreateUser { user_name, .. } = action {
                    ids.insert(user_name.clone(), id);
                }
                report(action, Outcome::Applied, None)
            }
            Done::Reactivated => {
                self.reactivated += 1;
                report(action, Outcome::Applied, None)
            }
            Done::AlreadyExisted { id, detail } => {
                self.already_existing += 1;
                if let (Action::CreateUser { user_name, .. }, Some(id)) = (action, id) {
                    ids.insert(user_name.clone(), id);
                }
                report(action, Outcome::Skipped, Some(detail))
            }
            Done::Deprovisioned => {
                match action {
                    Action::RemoveUser { .. } => self.removed += 1,
                    _ => self.deactivated += 1,
                }
                report(action, Outcome::Applied, None)
            }
            Done::Applied(detail) => report(action, Outcome::Applied, detail),
            Done::Failed(cause) => {
                self.failed += 1;
                report(action, Outcome::Failed, Some(cause))
            }
        };
        self.actions.push(entry);
    }
}

/// Runs independent actions a few at a time, keeping the plan's order in the results.
async fn concurrently<'a>(
    actions: impl Iterator<Item = &'a Action>,
    scim: &Scim,
    requests: &Requests,
) -> Vec<(Action, Done)> {
    let actions: Vec<Action> = actions.cloned().collect();
    futures::stream::iter(actions)
        .map(|action| async move {
            let done = user_action(&action, scim, requests).await;
            (action, done)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

async fn user_action(action: &Action, scim: &Scim, requests: &Requests) -> Done {
    let failed = |e: crate::databricks::ScimError| Done::Failed(e.to_string());
    match action {
        Action::CreateUser {
            user_name,
            display_name,
        } => {
            match scim
                .create_user(user_name.as_str(), display_name, requests)
                .await
            {
                Ok(Created::New(user)) => Done::Created(user.id),
                Ok(Created::AlreadyExists) => adopt(user_name.as_str(), scim, requests).await,
                Err(e) => failed(e),
            }
        }
        Action::ActivateUser { id, user_name } => scim
            .set_active(id, user_name.as_str(), true, requests)
            .await
            .map_or_else(failed, |()| Done::Reactivated),
        Action::DeactivateUser { id, user_name } => scim
            .set_active(id, user_name.as_str(), false, requests)
            .await
            .map_or_else(failed, |()| Done::Deprovisioned),
        Action::RemoveUser { id, user_name } => scim
            .delete_user(id, user_name.as_str(), requests)
            .await
            .map_or_else(failed, |()| Done::Deprovisioned),
        Action::CreateGroup { .. }
        | Action::AddToGroup { .. }
        | Action::RemoveFromGroup { .. }
        | Action::AddEntitlements { .. } => {
            Done::Failed("internal error: a group action in the user phase".to_owned())
        }
    }
}

async fn group_action(
    action: &Action,
    scim: &Scim,
    requests: &Requests,
    ids: &HashMap<UserName, String>,
    group_ids: &mut HashMap<String, String>,
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
        Action::AddToGroup { group, user_names } => {
            let group_id = match group_id(group, scim, requests, group_ids).await {
                Ok(id) => id,
                Err(done) => return done,
            };
            // Users whose creation failed have no id: they are reported already, and the next run adds them.
            let members: Vec<String> = user_names
                .iter()
                .filter_map(|n| ids.get(n).cloned())
                .collect();
            let detail = format!("{} member(s)", members.len());
            match scim.add_members(&group_id, &members, requests).await {
                Ok(()) => Done::Applied(Some(detail)),
                Err(e) => Done::Failed(e.to_string()),
            }
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
        _ => Done::Failed("internal error: a user action in the group phase".to_owned()),
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

/// A 409 on create: the user exists (often created at first sign-in, or not yet listed). Look it up
/// and reactivate it if needed; it counts as existing, not as a failure.
async fn adopt(user_name: &str, scim: &Scim, requests: &Requests) -> Done {
    match scim.find_user(user_name, requests).await {
        Ok(Some(user)) if !user.active => {
            match scim.set_active(&user.id, user_name, true, requests).await {
                Ok(()) => Done::Reactivated,
                Err(e) => Done::Failed(format!(
                    "already exists but inactive, and reactivating it failed: {e}"
                )),
            }
        }
        Ok(Some(user)) => Done::AlreadyExisted {
            id: Some(user.id),
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
