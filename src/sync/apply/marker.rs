//! The marker group's changes of one apply: created if it does not exist, then the principals to
//! mark added 50 per PATCH, one PATCH at a time, while the principals are created; and [`Additions`],
//! a group's additions sent a batch at a time with the budget checked between them.

use futures::StreamExt;
use futures::channel::mpsc;

use super::super::plan::{Action, Marking};
use super::{Applied, Done, NOT_STARTED, Writer};
use crate::databricks::{MAX_MEMBERS_PER_PATCH, ScimId};

/// The marker group's outcomes: its creation when planned, and its additions.
pub(super) struct Marked {
    create: Option<Done>,
    add: Done,
}

impl Marked {
    pub(super) fn record(self, marking: &Marking, applied: &mut Applied) {
        if let Some(done) = self.create {
            applied.record(Action::CreateMarker(marking), done);
        }
        applied.record(Action::Mark(marking), self.add);
    }
}

/// The marker group's changes of one apply: create it if needed, then add the principals to mark, 50
/// per PATCH, one PATCH at a time, those already listed first and created ones (every principal the
/// plan creates is to be marked) as their ids arrive.
pub(super) struct Marker<'a> {
    pub(super) marking: &'a Marking,
    /// The group's id, when it exists.
    pub(super) id: Option<ScimId>,
}

impl Marker<'_> {
    pub(super) async fn run(
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
pub(super) struct Additions<'a> {
    group_id: ScimId,
    /// Members to add in all, and added so far.
    total: usize,
    pub(super) added: usize,
    writer: &'a Writer<'a>,
}

impl<'a> Additions<'a> {
    pub(super) fn new(group_id: ScimId, total: usize, writer: &'a Writer<'a>) -> Self {
        Additions {
            group_id,
            total,
            added: 0,
            writer,
        }
    }

    /// Sends one batch (first checking the budget when `check_budget`); `Err` is how the whole
    /// addition ends: deferred (the budget is spent) or failed.
    pub(super) async fn send(&mut self, batch: &[ScimId], check_budget: bool) -> Result<(), Done> {
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
