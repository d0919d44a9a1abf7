//! Who is a workspace admin, by any route the workspace SCIM API can show: a direct member of `admins`,
//! or a member of a workspace group nested in it, to the documented 10 levels of nesting. Where the
//! API cannot show it (an account group in `admins`, which workspace-level SCIM does not serve on an
//! identity-federated workspace; a nested group that cannot be read; a member whose kind the answer
//! does not say; nesting deeper than the limit), the admins are [`Admins::Unknown`], with the reason
//! naming the group, and the plan deprovisions nobody in that workspace.
//!
//! Reading costs requests, so nothing is read beyond `admins` itself until the plan would deprovision
//! someone ([`super::plan::Plan::awaits_admins`]); then the nested groups are read level by level, each
//! at most once (cycles end there).

use std::collections::HashSet;
use std::future::Future;

use crate::databricks::{ClassifiedGroup, GroupMember, MemberKind, ScimId};

/// Levels of groups below `admins` that are read: Databricks documents at most 10 levels of nesting.
pub const MAX_NESTING: usize = 10;
/// Groups nested in `admins` that one run reads at most (each is a request); beyond them, unknown.
pub const MAX_GROUPS: usize = 100;

/// What the plan knows of the workspace's admins; their ids are in `Current::protected`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Admins {
    /// Every admin the workspace API can show is known.
    #[default]
    Known,
    /// `admins` has these groups as members, not read yet: read only when someone would be
    /// deprovisioned.
    Nested(Vec<Route>),
    /// Who is an admin cannot be established: why, naming the group or member.
    Unknown(String),
}

/// A group nested in `admins`, and how: the display names from `admins` down to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub id: ScimId,
    /// Display names of the groups from the one in `admins` down to this one (this one last).
    pub path: Vec<String>,
}

impl Route {
    fn name(&self) -> String {
        match self.path.last() {
            Some(name) => format!("{name:?} (id {})", self.id),
            None => format!("id {}", self.id),
        }
    }

    /// `the group "leads" (id 7) in admins through "platform" > "leads"`.
    fn describe(&self) -> String {
        let path: Vec<String> = self.path.iter().map(|n| format!("{n:?}")).collect();
        if self.path.len() > 1 {
            format!(
                "the group {} in admins through {}",
                self.name(),
                path.join(" > ")
            )
        } else {
            format!("the group {} in admins", self.name())
        }
    }

    fn child(&self, member: &GroupMember) -> Route {
        let mut path = self.path.clone();
        path.push(
            member
                .display
                .clone()
                .unwrap_or_else(|| member.id.to_string()),
        );
        Route {
            id: member.id.clone(),
            path,
        }
    }
}

/// The admins as `admins`' own members show them: the ids to protect (every direct member, whatever
/// its kind), and whether groups below must be read. A member of unknown kind is taken as a principal
/// only when `listed` says it is a listed user or service principal; otherwise the admins are unknown.
pub fn direct(admins: &ClassifiedGroup, listed: &dyn Fn(&str) -> bool) -> (Vec<ScimId>, Admins) {
    let protected = admins.members.iter().map(|m| m.id.clone()).collect();
    let top = Route {
        id: admins.id.clone(),
        path: Vec::new(),
    };
    let mut nested = Vec::new();
    for member in &admins.members {
        match member.kind {
            MemberKind::User | MemberKind::ServicePrincipal => {}
            MemberKind::Group => nested.push(top.child(member)),
            MemberKind::Unknown if listed(&member.id) => {}
            MemberKind::Unknown => return (protected, Admins::Unknown(unknown_kind(member, None))),
        }
    }
    let admins = if nested.is_empty() {
        Admins::Known
    } else {
        Admins::Nested(nested)
    };
    (protected, admins)
}

fn unknown_kind(member: &GroupMember, within: Option<&Route>) -> String {
    let named = match &member.display {
        Some(display) => format!("{display:?} (id {})", member.id),
        None => format!("id {}", member.id),
    };
    let place = within.map_or_else(|| "admins".to_owned(), Route::describe);
    format!(
        "{place} has a member {named} whose kind the workspace does not say (no $ref Users/, Groups/ or \
         ServicePrincipals/) and that is not a listed user or service principal: it may be a group whose \
         members cannot be known"
    )
}

/// Why the admins of a workspace cannot be established from one level of nested groups; its words are
/// the hold's reason ([`Admins::Unknown`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unestablished {
    #[error(
        "{route} cannot be read through the workspace API (an account group, which workspace-level SCIM \
         does not serve, or a group gone since): {error}"
    )]
    Unreadable { route: String, error: String },
    /// A group read at the account (or wherever the caller's read looks) that could not be.
    #[error("{route} cannot be read: {error}")]
    UnreadableAt { route: String, error: String },
    /// An account group, or a group whose answer does not say it is a workspace group.
    #[error("{0}")]
    NotAWorkspaceGroup(String),
    /// A member whose kind the workspace does not say.
    #[error("{0}")]
    UnknownKind(String),
}

/// What reading the nested groups found: more ids to protect, and whether every admin is now known.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    pub protected: Vec<ScimId>,
    /// [`Admins::Known`] or [`Admins::Unknown`].
    pub admins: Admins,
    /// Groups read.
    pub read: usize,
}

/// Where the groups read by [`expand_at`] live, and so which of them can be trusted to show their
/// members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupsAt {
    /// A workspace's SCIM API: only workspace-local groups (`meta.resourceType` `WorkspaceGroup`).
    Workspace,
    /// The account's SCIM API: every group is an account group, read with its members.
    Account,
}

/// Reads the groups nested in `admins` (`read` is `GET Groups/{id}`), level by level, each group once,
/// at most [`MAX_NESTING`] levels and [`MAX_GROUPS`] groups. The first group that cannot be read, an
/// account group, a group that does not say it is a workspace group, or a member of unknown kind that
/// is not `listed`, makes the admins unknown, and reading stops.
pub async fn expand<F, Fut, E>(
    nested: Vec<Route>,
    listed: &(dyn Fn(&str) -> bool + Sync),
    read: F,
) -> Expansion
where
    F: Fn(ScimId) -> Fut,
    Fut: Future<Output = Result<ClassifiedGroup, E>>,
    E: std::fmt::Display,
{
    expand_at(GroupsAt::Workspace, nested, listed, read).await
}

/// [`expand`] over the groups of `at`: at the account, a group's kind is not checked (all are account
/// groups, whose members the account API shows).
pub async fn expand_at<F, Fut, E>(
    at: GroupsAt,
    nested: Vec<Route>,
    listed: &(dyn Fn(&str) -> bool + Sync),
    read: F,
) -> Expansion
where
    F: Fn(ScimId) -> Fut,
    Fut: Future<Output = Result<ClassifiedGroup, E>>,
    E: std::fmt::Display,
{
    let mut found = Expansion::default();
    let mut seen: HashSet<ScimId> = nested.iter().map(|r| r.id.clone()).collect();
    let mut level = nested;
    for _ in 0..MAX_NESTING {
        if level.is_empty() {
            return found;
        }
        if found.read + level.len() > MAX_GROUPS {
            found.admins = Admins::Unknown(format!(
                "more than {MAX_GROUPS} groups are nested in admins (reached through {}): not read",
                level[0].describe()
            ));
            return found;
        }
        let answers = futures::future::join_all(level.iter().map(|r| read(r.id.clone()))).await;
        found.read += level.len();
        match found.take_in(at, &level, answers, listed, &mut seen) {
            Ok(next) => level = next,
            Err(why) => {
                found.admins = Admins::Unknown(why.to_string());
                return found;
            }
        }
    }
    if let Some(deeper) = level.first() {
        found.admins = Admins::Unknown(format!(
            "{} is nested more than {MAX_NESTING} levels below admins (the documented limit): its \
             members are not read",
            deeper.describe()
        ));
    }
    found
}

impl Expansion {
    /// Takes in one level's answers: every member protected, and the groups among them not `seen` yet
    /// are the next level. `Err` says why the admins cannot be established.
    fn take_in<E: std::fmt::Display>(
        &mut self,
        at: GroupsAt,
        level: &[Route],
        answers: Vec<Result<ClassifiedGroup, E>>,
        listed: &(dyn Fn(&str) -> bool + Sync),
        seen: &mut HashSet<ScimId>,
    ) -> Result<Vec<Route>, Unestablished> {
        let mut next = Vec::new();
        for (route, answer) in level.iter().zip(answers) {
            let group = answer.map_err(|error| {
                let (route, error) = (route.describe(), error.to_string());
                match at {
                    GroupsAt::Workspace => Unestablished::Unreadable { route, error },
                    GroupsAt::Account => Unestablished::UnreadableAt { route, error },
                }
            })?;
            if let (GroupsAt::Workspace, Some(why)) = (at, not_a_workspace_group(&group, route)) {
                return Err(Unestablished::NotAWorkspaceGroup(why));
            }
            for member in &group.members {
                match member.kind {
                    MemberKind::User | MemberKind::ServicePrincipal => {}
                    MemberKind::Group => {
                        if seen.insert(member.id.clone()) {
                            next.push(route.child(member));
                        }
                    }
                    MemberKind::Unknown if listed(&member.id) => {}
                    MemberKind::Unknown => {
                        return Err(Unestablished::UnknownKind(unknown_kind(
                            member,
                            Some(route),
                        )));
                    }
                }
                self.protected.push(member.id.clone());
            }
        }
        Ok(next)
    }
}

/// Whether the answer says the group is workspace-local (`meta.resourceType` `WorkspaceGroup`), whose
/// members the workspace API shows.
pub fn is_workspace_group(group: &ClassifiedGroup) -> bool {
    (group.resource_type.as_deref()).is_some_and(|kind| kind.eq_ignore_ascii_case("WorkspaceGroup"))
}

/// Why a group read by id cannot be trusted to show its members: an account group (`meta.resourceType`
/// `Group`), or one whose kind the answer does not say.
fn not_a_workspace_group(group: &ClassifiedGroup, route: &Route) -> Option<String> {
    match group.resource_type.as_deref() {
        _ if is_workspace_group(group) => None,
        Some(kind) if kind.eq_ignore_ascii_case("Group") => Some(format!(
            "{} is an account group (meta.resourceType \"Group\"): the workspace API does not show \
             its members",
            route.describe()
        )),
        Some(other) => Some(format!(
            "{} has meta.resourceType {other:?}, not \"WorkspaceGroup\": its members are not taken as \
             complete",
            route.describe()
        )),
        None => Some(format!(
            "{} was read without meta.resourceType: whether it is a workspace group (whose members \
             the workspace API shows) is not known",
            route.describe()
        )),
    }
}

#[cfg(test)]
mod tests;
