//! What bounds one store operation done for a step: a size cap, and a flag
//! that the step's end raises. The store works on a blocking thread that a
//! timed-out or cancelled step cannot stop by dropping a future, so it
//! checks the flag between entries and between chunks instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StoreError;

/// Raised once the operation's caller has gone; never lowered.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once raised: `job.cancel.check()?` between steps of work.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.is_cancelled() { Err(StoreError::Cancelled) } else { Ok(()) }
    }

    /// A guard that raises the flag when dropped: held by the future that
    /// waits for the blocking work, so a timeout or a cancellation, which
    /// drop that future, stops the work too.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Raises its [`Cancel`] when dropped.
#[derive(Debug)]
pub struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The bounds of one publish or fetch.
#[derive(Debug, Clone)]
pub struct Job {
    /// Max bytes of the blob a publish may write (the step's `artifact_limit`).
    pub limit: u64,
    pub cancel: Cancel,
}

impl Job {
    /// A job capped at `limit` bytes that only its own [`Cancel`] stops.
    pub fn new(limit: u64) -> Self {
        Self { limit, cancel: Cancel::default() }
    }

    /// No cap (reading back what the store already holds, the CLI).
    pub fn unbounded() -> Self {
        Self::new(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_stops_the_work() {
        let job = Job::new(10);
        assert_eq!(job.cancel.check(), Ok(()));
        let worker = job.clone();
        drop(job.cancel.on_drop());
        assert_eq!(worker.cancel.check(), Err(StoreError::Cancelled));
    }
}
