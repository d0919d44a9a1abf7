//! Applying a plan to a workspace: each action once, a few at a time (the SCIM client also paces them),
//! each failure recorded while the others go on. A dry run records every action as `planned` and sends
//! nothing.

use futures::StreamExt;

use super::plan::{Action, Plan};
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
    pub failed: u64,
}

enum Done {
    Created,
    Reactivated,
    AlreadyExisted(String),
    Failed(String),
}

/// Runs the plan's actions against `scim` (or only lists them when `dry_run`).
pub async fn apply(plan: &Plan, scim: &Scim, requests: &Requests, dry_run: bool) -> Applied {
    let mut applied = Applied::default();
    if dry_run {
        applied.actions = plan
            .actions
            .iter()
            .map(|a| report(a, Outcome::Planned, None))
            .collect();
        return applied;
    }
    let results: Vec<(Action, Done)> = futures::stream::iter(plan.actions.iter().cloned())
        .map(|action| async move {
            let done = run(&action, scim, requests).await;
            (action, done)
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (action, result) in results {
        let entry = match result {
            Done::Created => {
                applied.created += 1;
                report(&action, Outcome::Applied, None)
            }
            Done::Reactivated => {
                applied.reactivated += 1;
                report(&action, Outcome::Applied, None)
            }
            Done::AlreadyExisted(detail) => {
                applied.already_existing += 1;
                report(&action, Outcome::Skipped, Some(detail))
            }
            Done::Failed(cause) => {
                applied.failed += 1;
                report(&action, Outcome::Failed, Some(cause))
            }
        };
        applied.actions.push(entry);
    }
    applied
}

async fn run(action: &Action, scim: &Scim, requests: &Requests) -> Done {
    match action {
        Action::ActivateUser { id, user_name } => match scim
            .set_active(id, user_name.as_str(), true, requests)
            .await
        {
            Ok(()) => Done::Reactivated,
            Err(e) => Done::Failed(e.to_string()),
        },
        Action::CreateUser {
            user_name,
            display_name,
        } => {
            match scim
                .create_user(user_name.as_str(), display_name, requests)
                .await
            {
                Ok(Created::New(_)) => Done::Created,
                Ok(Created::AlreadyExists) => adopt(user_name.as_str(), scim, requests).await,
                Err(e) => Done::Failed(e.to_string()),
            }
        }
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
        Ok(Some(_)) => Done::AlreadyExisted(
            "already exists (created outside this sync, e.g. at first sign-in)".into(),
        ),
        Ok(None) => Done::AlreadyExisted(
            "already exists (the workspace said so; not yet visible to a lookup)".into(),
        ),
        Err(e) => Done::AlreadyExisted(format!(
            "already exists (the workspace said so; the lookup failed: {e})"
        )),
    }
}

fn report(action: &Action, outcome: Outcome, detail: Option<String>) -> ActionReport {
    ActionReport {
        kind: action.kind().to_owned(),
        target: action.target().to_string(),
        outcome,
        detail,
    }
}
