//! What the host prints, and where: every line is `[2026-11-28T11:00:00.123Z] <text>` like the
//! Core Tools console, carries a level and the host's log category (`Host.Function.Console` for the
//! handler's own output, `Function.<Name>` for `Executing`/`Executed`, `Function.<Name>.User` for the
//! `Logs` of an answer, `Host.*` for the host itself), and goes to the [`Output`] the caller chose.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use super::clock;

/// The level of a console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Information,
    Warning,
    Error,
}

/// One printed line.
#[derive(Debug, Clone)]
pub struct ConsoleLine {
    pub at: OffsetDateTime,
    pub level: Level,
    /// The host's log category, e.g. `Host.Function.Console` or `Function.SyncTimer.User`.
    pub category: String,
    pub text: String,
}

impl fmt::Display for ConsoleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", clock::console(self.at), self.text)
    }
}

/// Where the host prints.
#[derive(Clone, Default)]
pub enum Output {
    /// Standard output, one line each (the default).
    #[default]
    Stdout,
    /// Each line, formatted as printed, appended to the vector (for tests).
    Capture(Arc<Mutex<Vec<String>>>),
    /// Each line handed to the callback.
    Callback(Arc<dyn Fn(&ConsoleLine) + Send + Sync>),
}

impl Output {
    /// A capturing output and the vector it fills.
    pub fn capture() -> (Output, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (Output::Capture(Arc::clone(&lines)), lines)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Output::Stdout => "Output::Stdout",
            Output::Capture(_) => "Output::Capture(..)",
            Output::Callback(_) => "Output::Callback(..)",
        })
    }
}

/// The host's printer (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Console {
    output: Output,
}

impl Console {
    pub(crate) fn new(output: Output) -> Console {
        Console { output }
    }

    pub(crate) fn emit(&self, level: Level, category: &str, text: impl Into<String>) {
        let line = ConsoleLine {
            at: clock::now(),
            level,
            category: category.to_owned(),
            text: text.into(),
        };
        match &self.output {
            Output::Stdout => {
                // A closed stdout must not stop the host.
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Output::Capture(lines) => lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.to_string()),
            Output::Callback(callback) => callback(&line),
        }
    }

    pub(crate) fn info(&self, category: &str, text: impl Into<String>) {
        self.emit(Level::Information, category, text);
    }

    pub(crate) fn warn(&self, category: &str, text: impl Into<String>) {
        self.emit(Level::Warning, category, text);
    }

    pub(crate) fn error(&self, category: &str, text: impl Into<String>) {
        self.emit(Level::Error, category, text);
    }
}

/// Host categories.
pub(crate) const HOST: &str = "Host.Startup";
pub(crate) const WORKER: &str = "Host.Function.Console";
pub(crate) const TIMER: &str = "Host.Triggers.Timer";
