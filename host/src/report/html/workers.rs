//! The cluster workers of a run in the timeline (`baton run --nats`): a
//! legend naming each worker once with its colour, and that colour on what
//! each worker ran (a stripe under each attempt's segment, the worker's
//! pill). A local run has no worker: nothing of this is drawn.

use std::fmt::Write;

use crate::report::RunReport;
use crate::report::xml::escape;

/// Colours (`--wk0`…) before they repeat.
const PALETTE: usize = 8;

/// The workers of a run, sorted by name.
pub struct Workers {
    names: Vec<String>,
}

impl Workers {
    pub fn of(r: &RunReport) -> Self {
        let mut names: Vec<String> =
            r.steps.iter().flat_map(|s| s.attempts.iter().filter_map(|a| a.worker.clone())).collect();
        names.sort();
        names.dedup();
        Self { names }
    }

    /// The classes that colour what `worker` ran (`wk wk-N`).
    pub fn class(&self, worker: &str) -> String {
        match self.names.iter().position(|n| n == worker) {
            Some(i) => format!("wk wk-{}", i % PALETTE),
            None => String::new(),
        }
    }

    /// The legend: each worker once, with its colour and what it ran.
    pub fn legend(&self, out: &mut String, r: &RunReport) {
        if self.names.is_empty() {
            return;
        }
        out.push_str("<p class=\"legend workers\">workers: ");
        for name in &self.names {
            let ran = r.steps.iter().flat_map(|s| &s.attempts).filter(|a| a.worker.as_deref() == Some(name)).count();
            let _ = write!(
                out,
                "<span data-legend-worker=\"{0}\" title=\"{1} attempt{2} on worker {0}\"><i class=\"sw {3}\"></i>{0}</span>",
                escape(name),
                ran,
                if ran == 1 { "" } else { "s" },
                self.class(name)
            );
        }
        out.push_str("</p>\n");
    }
}
