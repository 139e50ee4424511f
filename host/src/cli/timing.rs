//! `BATON_TIMING=1` prints how long each phase of a command took, on
//! stderr: for profiling baton itself, not the pipeline.

use std::time::Instant;

/// Prints phase durations when `BATON_TIMING` is set.
pub struct Timing {
    on: bool,
    last: Instant,
}

impl Timing {
    pub fn new() -> Self {
        Self { on: std::env::var_os(crate::env_vars::TIMING).is_some(), last: Instant::now() }
    }

    /// Ends a phase called `what`.
    pub fn phase(&mut self, what: &str) {
        if self.on {
            eprintln!("baton timing: {what}: {:.1}ms", self.last.elapsed().as_secs_f64() * 1e3);
        }
        self.last = Instant::now();
    }
}
