//! Slots: with `baton run --nats` and no `--jobs`, as many attempts are out
//! at once as the live workers have job slots in all, following workers as
//! they join and leave (the coordinator's own CPUs say nothing about the
//! cluster). A fair semaphore keeps the scheduler's order: the attempt that
//! asked first is sent first. `--jobs` caps the scheduler instead.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::remote::Inner;

/// Keeps `slots` at the live workers' total slots while the run lives;
/// says so each time the total changes.
pub(super) async fn follow_workers(inner: Weak<Inner>, slots: Arc<Semaphore>) {
    let mut granted = 0usize;
    let mut said = None;
    loop {
        let Some(me) = inner.upgrade() else { return };
        if let Ok(live) = me.cluster.workers.live().await {
            let usable: Vec<_> = live.iter().filter(|w| !w.key.is_empty()).collect();
            let total: usize = usable.iter().map(|w| w.jobs.min(4096)).sum();
            if total > granted {
                slots.add_permits(total - granted);
                granted = total;
            } else if total < granted {
                // Only free slots go now; the rest as their attempts end.
                granted -= slots.forget_permits(granted - total);
            }
            if said != Some(total) && total == 0 {
                said = Some(0);
                eprintln!("baton: steps wait for a live worker (start one with `baton worker --nats URL`)");
            } else if said != Some(total) {
                said = Some(total);
                eprintln!(
                    "baton: {total} job slot{} on {} live worker{} (jobs follow the workers; --jobs caps them)",
                    if total == 1 { "" } else { "s" },
                    usable.len(),
                    if usable.len() == 1 { "" } else { "s" }
                );
            }
        }
        drop(me);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
