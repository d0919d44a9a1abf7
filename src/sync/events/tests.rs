//! The queries that read the events read only fields that [`emit`] writes.
//!
//! The fields are learned by running [`emit`] on a report that gives every kind of event, under the
//! JSON-lines layer that `serve` uses ([`crate::telemetry::json_lines`]), and reading the lines back: a
//! renamed or removed field in `emit` fails this test, not the dashboard. The queries are those of the
//! workbook (`infra/workbook/sync-workbook.json`, deployed as it is), of the alert rules
//! (`infra/modules/alerts.bicep`) and of `docs/monitoring.md`. Each query parses the line into `e`
//! (`parse_json`), so a field is read as `e.<field>` (or `e.span.<field>`, `e["<field>"]`), and an event is
//! chosen with `event == "<name>"` (or `tostring(e.event) == "<name>"`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use time::OffsetDateTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

use super::emit;
use crate::config::WorkspaceName;
use crate::sync::report::{
    ActionKind, ActionReport, FailureReason, OmittedActions, Outcome, Report, Status, Trigger,
    UserCounts, WorkspaceReport,
};

/// The event kinds `emit` writes; each must appear in the captured lines.
const EVENTS: [&str; 4] = [
    "workspaceSynced",
    "actionFailed",
    "deprovisioningHeld",
    "runFinished",
];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

fn workspace(name: &str) -> WorkspaceReport {
    WorkspaceReport::failed(WorkspaceName::parse(name).unwrap(), "unused")
}

fn action(kind: ActionKind, target: &str, outcome: Outcome, detail: &str) -> ActionReport {
    ActionReport {
        kind,
        target: target.to_owned(),
        outcome,
        detail: Some(detail.to_owned()),
        reason: None,
    }
}

/// A workspace that did everything: a failed action, one failed for a known reason, held
/// deprovisioning (one listed, two counted), changes left for the next run.
fn busy(reason: &str) -> WorkspaceReport {
    let counts = UserCounts {
        desired: 10,
        existing: 8,
        created: 2,
        reactivated: 1,
        deactivated: 0,
        removed: 0,
        skipped: 3,
        failed: 2,
        account_deactivated: 1,
    };
    let (created, held) = (ActionKind::CreateUser, ActionKind::DeactivateUser);
    let parked = ActionReport {
        reason: Some(FailureReason::AccountDeactivated),
        ..action(
            ActionKind::ActivateUser,
            "parked@contoso.com",
            Outcome::Failed,
            "deactivated in the Databricks account",
        )
    };
    WorkspaceReport {
        status: Status::Failed,
        error: None,
        users: counts.clone(),
        service_principals: counts,
        actions: vec![
            action(
                created,
                "new@contoso.com",
                Outcome::Failed,
                "HTTP 500 from the workspace",
            ),
            parked,
            action(held, "gone@contoso.com", Outcome::Skipped, reason),
        ],
        omitted_actions: vec![OmittedActions {
            kind: ActionKind::RemoveUser,
            outcome: Outcome::Skipped,
            count: 2,
        }],
        deprovisioning_held: Some(reason.to_owned()),
        remaining: 4,
        duration_ms: 1234,
        requests: BTreeMap::from([("graph".to_owned(), 3), ("databricks".to_owned(), 12)]),
        ..workspace("analytics")
    }
}

/// A run with one workspace that did everything and one that failed as a whole.
fn sample_report() -> Report {
    let reason =
        "3 deprovisionings above maxDeprovision 2: held until a run carries allowDeprovision";
    let broken = WorkspaceReport {
        error: Some("Key Vault refused the secret".to_owned()),
        ..workspace("finance")
    };
    Report {
        run_id: Uuid::new_v4(),
        trigger: Trigger::Timer,
        invocation_id: Some("8a3c7d7e-0000-4000-8000-000000000001".to_owned()),
        dry_run: false,
        started_at: OffsetDateTime::now_utc(),
        duration_ms: 5678,
        status: Status::Failed,
        workspaces: vec![busy(reason), broken],
        account: None,
    }
}

/// The JSON lines `emit` writes for the sample report, as `serve` writes them. The runner calls `emit`
/// inside its `run` span, whose fields the layer writes under `span`.
fn emitted_lines() -> Vec<Value> {
    let capture = Capture::default();
    let subscriber =
        tracing_subscriber::registry().with(crate::telemetry::json_lines(capture.clone()));
    let report = sample_report();
    tracing::subscriber::with_default(subscriber, || {
        let span = crate::sync::runner::run_span(
            &report.run_id,
            report.trigger,
            report.invocation_id.as_deref(),
            report.dry_run,
        );
        let _entered = span.enter();
        emit(&report, Some(1500));
    });
    let bytes = capture.0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// One query and where it comes from.
struct Query {
    origin: String,
    text: String,
}

/// A field the query reads: its path below `e` (`["span", "run_id"]` for `e.span.run_id`).
fn fields_read(kql: &str) -> BTreeSet<Vec<String>> {
    let bytes = kql.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = BTreeSet::new();
    for (i, _) in kql.match_indices('e') {
        // `e` on its own: not part of a longer name nor a member (`x.e`).
        if i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b'.') {
            continue;
        }
        let mut path = Vec::new();
        let mut at = i + 1;
        loop {
            if bytes.get(at) == Some(&b'.') {
                let start = at + 1;
                let mut end = start;
                while end < bytes.len() && is_ident(bytes[end]) {
                    end += 1;
                }
                if end == start {
                    break;
                }
                path.push(kql[start..end].to_owned());
                at = end;
            } else if kql[at..].starts_with("[\"") || kql[at..].starts_with("['") {
                let quote = bytes[at + 1] as char;
                let start = at + 2;
                let Some(len) = kql[start..].find(quote) else {
                    break;
                };
                path.push(kql[start..start + len].to_owned());
                at = start + len + 2; // the quote and `]`
            } else {
                break;
            }
        }
        if !path.is_empty() {
            found.insert(path);
        }
    }
    found
}

/// The event names a query selects: `event == "x"` and `tostring(e.event) == "x"`.
fn events_selected(kql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for pattern in ["event == \"", "event) == \""] {
        for (i, _) in kql.match_indices(pattern) {
            let start = i + pattern.len();
            let end = start + kql[start..].find('"').expect("closing quote");
            names.insert(kql[start..end].to_owned());
        }
    }
    names
}

fn repository_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every query of the workbook: items of type 3 (query), at any depth (groups nest items).
fn workbook_queries() -> Vec<Query> {
    fn walk(value: &Value, out: &mut Vec<Query>) {
        match value {
            Value::Object(map) => {
                if map.get("type") == Some(&Value::from(3))
                    && let Some(text) = map
                        .get("content")
                        .and_then(|c| c.get("query"))
                        .and_then(Value::as_str)
                {
                    let name = map.get("name").and_then(Value::as_str).unwrap_or("?");
                    out.push(Query {
                        origin: format!("infra/workbook/sync-workbook.json item {name}"),
                        text: text.to_owned(),
                    });
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let workbook: Value =
        serde_json::from_str(&repository_file("infra/workbook/sync-workbook.json")).unwrap();
    assert_eq!(workbook["version"], "Notebook/1.0");
    let mut queries = Vec::new();
    walk(&workbook, &mut queries);
    queries
}

/// The blocks between `open` and `close` markers of a file (Markdown code fences, Bicep `'''` strings).
fn blocks(path: &str, open: &str, close: &str) -> Vec<Query> {
    let text = repository_file(path);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(open) {
        let body = &rest[i + open.len()..];
        let end = body.find(close).expect("an unclosed block");
        let line = text.len() - rest.len() + i;
        out.push(Query {
            origin: format!("{path} at byte {line}"),
            text: body[..end].to_owned(),
        });
        rest = &body[end + close.len()..];
    }
    out
}

fn has_path(value: &Value, path: &[String]) -> bool {
    path.iter().try_fold(value, |v, key| v.get(key)).is_some()
}

/// Checks the queries against the lines; gives the distinct fields they read.
fn check(queries: &[Query], lines: &[Value]) -> BTreeSet<Vec<String>> {
    let mut all = BTreeSet::new();
    let mut problems = Vec::new();
    for query in queries {
        let selected = events_selected(&query.text);
        for name in &selected {
            if !EVENTS.contains(&name.as_str()) {
                problems.push(format!(
                    "{}: selects event {name:?}, which emit never writes",
                    query.origin
                ));
            }
        }
        // A query that selects events may read only their fields; one that does not, any event's.
        let candidates: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                selected.is_empty() || l["event"].as_str().is_some_and(|e| selected.contains(e))
            })
            .collect();
        for path in fields_read(&query.text) {
            if !candidates.iter().any(|l| has_path(l, &path)) {
                problems.push(format!(
                    "{}: reads e.{} but no {} line has it",
                    query.origin,
                    path.join("."),
                    if selected.is_empty() {
                        "event".to_owned()
                    } else {
                        selected.iter().cloned().collect::<Vec<_>>().join("/")
                    }
                ));
            }
            all.insert(path);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    all
}

#[test]
fn the_lines_carry_every_event_kind_with_its_fields() {
    let lines = emitted_lines();
    for name in EVENTS {
        let line = lines
            .iter()
            .find(|l| l["event"] == name)
            .unwrap_or_else(|| panic!("no {name} line in {lines:#?}"));
        assert!(line["run_id"].is_string(), "{line}");
        assert!(line["span"]["run_id"].is_string(), "{line}");
    }
    // A failure with a known cause carries it in `reason`; the others carry "" (always present).
    let reasons: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["event"] == "actionFailed")
        .map(|l| {
            (
                l["target"].as_str().unwrap(),
                l["reason"].as_str().unwrap_or("absent"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("new@contoso.com", ""),
            ("parked@contoso.com", "accountDeactivated")
        ]
    );
    let finished = lines.iter().find(|l| l["event"] == "runFinished").unwrap();
    assert_eq!(finished["max_run_seconds"], 1500);
    let synced = lines
        .iter()
        .find(|l| l["event"] == "workspaceSynced")
        .unwrap();
    // Far more fields than any query needs: the extraction below is not comparing against nothing.
    assert!(synced.as_object().unwrap().len() >= 30, "{synced}");
    assert_eq!(synced["account_deactivated"], 1, "{synced}");
}

#[test]
fn the_workbook_reads_only_fields_that_emit_writes() {
    let lines = emitted_lines();
    let queries = workbook_queries();
    assert!(
        queries.len() >= 10,
        "only {} workbook queries found",
        queries.len()
    );
    let fields = check(&queries, &lines);
    // Every tile that starts from the events reads some of them.
    for query in queries.iter().filter(|q| q.text.contains("SyncEvents")) {
        assert!(
            !fields_read(&query.text).is_empty(),
            "{}: reads no field",
            query.origin
        );
        assert!(
            !events_selected(&query.text).is_empty(),
            "{}: selects no event",
            query.origin
        );
    }
    let selected: BTreeSet<String> = queries
        .iter()
        .flat_map(|q| events_selected(&q.text))
        .collect();
    assert_eq!(selected, EVENTS.iter().map(|e| (*e).to_owned()).collect());
    assert!(
        fields.len() >= 25,
        "only {} distinct fields found: {fields:?}",
        fields.len()
    );
    for needed in [
        "max_run_seconds",
        "sp_created",
        "deactivated",
        "detail",
        "reason",
        "held",
    ] {
        assert!(
            fields.contains(&vec![needed.to_owned()]),
            "the workbook no longer reads {needed}"
        );
    }
}

/// The queries between `open` and `close` in a repository file (at least `queries` of them) read only
/// fields that `emit` writes, and at least `fields` of them.
fn read_only_written_fields(path: &str, open: &str, close: &str, queries: usize, fields: usize) {
    let found = blocks(path, open, close);
    assert!(
        found.len() >= queries,
        "{path}: only {} queries found",
        found.len()
    );
    let read = check(&found, &emitted_lines());
    assert!(read.len() >= fields, "{path}: only {read:?}");
}

#[test]
fn the_alerts_and_the_documented_queries_read_only_fields_that_emit_writes() {
    read_only_written_fields("infra/modules/alerts.bicep", "'''", "'''", 2, 3);
    read_only_written_fields("docs/monitoring.md", "```kusto", "```", 10, 20);
}

#[test]
fn the_extraction_finds_fields_in_every_spelling() {
    let kql = r#"x | where tostring(e.event) == "runFinished" or event == "actionFailed"
        | project a = e.run_id, b = e["status"], c = e['trigger'], d = e.span.run_id, f = the.e.no, g = size.x"#;
    let fields: Vec<String> = fields_read(kql).into_iter().map(|p| p.join(".")).collect();
    assert_eq!(
        fields,
        ["event", "run_id", "span.run_id", "status", "trigger"]
    );
    assert_eq!(
        events_selected(kql).into_iter().collect::<Vec<_>>(),
        ["actionFailed", "runFinished"]
    );
}
