//! The memory of one run, in named steps. A run of large groups holds every person Graph listed until
//! the last of its workspaces has made its desired principals, then each workspace holds only its own
//! lists; this module is where that happens, so the engine never drops anything by hand.
//!
//! A workspace's steps, in order: [`WorkspaceMemory::members_gathered`] (its turn to make desired
//! principals: one workspace at a time, as that takes scratch and CPU that two would only share),
//! [`WorkspaceMemory::desired_made`] (its group members let go; the last workspace to get there frees
//! the run's members and people), [`WorkspaceMemory::principals_made`] (the turn ends),
//! [`WorkspaceMemory::plan_superseded`] (a first plan dropped before the nested admins are read),
//! [`WorkspaceMemory::plan_made`] (the desired principals dropped: the plan holds what apply needs),
//! [`WorkspaceMemory::workspace_done`] (free pages returned). A workspace that ends early, whatever the
//! way, still gives up its claim on the run's members. What each step lets go of, in bytes, is measured
//! by the benchmark and written in BENCHMARKS.md ("The run's memory, step by step"), not here.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::desired::{Names, Principals};
use super::groups::GroupMembers;
use super::memo::Memo;
use super::plan::Plan;
use crate::entra::{GraphError, Listed, People, Person, ServicePrincipalMember};

/// Members of a group as read once in a run, or why they could not be.
pub type MembersRead<T> = Result<Arc<Listed<T>>, GraphError>;

/// What a run holds for all of its workspaces, and until when.
pub struct RunMemory {
    /// User members by (group id, `nested`), read once per run; cleared once no workspace needs them.
    pub members: Memo<(String, bool), MembersRead<Person>>,
    /// Service principal members, the same way.
    pub service_principals: Memo<(String, bool), MembersRead<ServicePrincipalMember>>,
    /// Every person read in the run, once; cleared with the members.
    pub people: People,
    /// Every user name of the run, once: shared by the desired principals, the listings and the plans,
    /// so it lives as long as the run.
    pub names: Names,
    /// Workspaces of the run that still need group members.
    gathering: AtomicUsize,
    /// Held by the workspace making its desired principals.
    desiring: tokio::sync::Mutex<()>,
}

impl RunMemory {
    pub fn new(workspaces: usize) -> RunMemory {
        RunMemory {
            members: Memo::default(),
            service_principals: Memo::default(),
            people: People::default(),
            names: Names::default(),
            gathering: AtomicUsize::new(workspaces),
            desiring: tokio::sync::Mutex::new(()),
        }
    }

    /// A read of a workspace beyond the run's own (account mode reads the groups of workspace-mode
    /// workspaces, to keep their principals at the account): it claims the run's members as a workspace
    /// of the run does (if they were let go already, they are read again).
    pub fn extra_reader(&self) -> WorkspaceMemory<'_> {
        self.gathering.fetch_add(1, Ordering::SeqCst);
        self.workspace_started()
    }

    /// A workspace's sync starts: it claims the run's group members until it has its desired principals.
    pub fn workspace_started(&self) -> WorkspaceMemory<'_> {
        WorkspaceMemory {
            run: self,
            gathering: true,
            turn: None,
        }
    }
}

/// One workspace's place in its run's memory (given up when dropped, whatever the way its sync ends).
pub struct WorkspaceMemory<'a> {
    run: &'a RunMemory,
    /// Whether this workspace still claims the run's group members.
    gathering: bool,
    /// Its turn to make desired principals, while it has it.
    turn: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl WorkspaceMemory<'_> {
    /// The workspace has its groups' members: waits for its turn to make its desired principals.
    pub async fn members_gathered(&mut self) {
        self.turn = Some(self.run.desiring.lock().await);
    }

    /// The workspace has its desired principals (and mirrored groups): its group members go, and the
    /// last workspace of the run to get here frees the run's.
    pub fn desired_made(&mut self, members: Vec<GroupMembers>) {
        drop(members);
        self.stop_gathering();
    }

    /// The desired principals are in the plan's form: the next workspace may make its own.
    pub fn principals_made(&mut self) {
        self.turn = None;
    }

    /// A plan waits for the nested admins: it goes before they are read and the workspace is planned
    /// again (two plans of a large workspace are never held at once).
    pub fn plan_superseded(&self, plan: Plan) {
        drop(plan);
    }

    /// The plan exists and holds what applying needs (names are shared): the desired principals go.
    pub fn plan_made(&self, principals: Principals) {
        drop(principals);
    }

    /// The workspace's sync ended: free pages go back to the system.
    pub fn workspace_done(mut self) {
        self.stop_gathering();
        self.turn = None;
        crate::memory::release();
    }

    fn stop_gathering(&mut self) {
        if std::mem::take(&mut self.gathering)
            && self.run.gathering.fetch_sub(1, Ordering::SeqCst) == 1
        {
            self.run.members.clear();
            self.run.service_principals.clear();
            self.run.people.clear();
            crate::memory::release();
        }
    }
}

impl Drop for WorkspaceMemory<'_> {
    fn drop(&mut self) {
        self.stop_gathering();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the run still holds the members of group "g".
    async fn kept(run: &RunMemory) -> bool {
        let key = ("g".to_owned(), true);
        let read = run
            .members
            .get_or(key, || async { Err(GraphError::Token(String::new())) });
        read.await.is_ok()
    }

    #[tokio::test]
    async fn the_run_keeps_its_members_until_its_last_workspace_has_made_its_desired_principals() {
        let run = RunMemory::new(2);
        let listed: MembersRead<Person> = Ok(Arc::default());
        let key = ("g".to_owned(), true);
        assert!(run.members.get_or(key, || async { listed }).await.is_ok());
        let mut first = run.workspace_started();
        first.members_gathered().await;
        first.desired_made(Vec::new());
        first.principals_made();
        assert!(kept(&run).await, "a workspace still needs them");
        // The second ends early (a failed read): it gives up its claim all the same.
        drop(run.workspace_started());
        assert!(!kept(&run).await, "cleared once nobody needs them");
        first.workspace_done();
    }
}
