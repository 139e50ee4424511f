//! Process groups of steps: every group a step started is killed when the
//! step ends; supervisors (one per process, reading its output) are counted
//! so the end of a run can wait for them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

/// The process groups started by one attempt. Every group still alive is
/// killed by `kill_all` (called when the attempt ends) or on drop.
#[derive(Clone, Default)]
pub struct ProcessGroups(Arc<Mutex<HashSet<i32>>>);

/// Every live group of this baton process, for the second Ctrl-C.
fn all_groups() -> &'static Mutex<HashSet<i32>> {
    static ALL: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: plain syscall; the group was created by us (setpgid(0, 0)).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

impl ProcessGroups {
    pub(super) fn add(&self, pgid: i32) {
        lock(&self.0).insert(pgid);
        lock(all_groups()).insert(pgid);
    }

    /// Kills a group and forgets it.
    pub(super) fn finish(&self, pgid: i32) {
        kill_group(pgid);
        lock(&self.0).remove(&pgid);
        lock(all_groups()).remove(&pgid);
    }

    /// Groups still alive.
    pub fn count(&self) -> usize {
        lock(&self.0).len()
    }

    /// Kills every group still alive.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = lock(&self.0).drain().collect();
        let mut all = lock(all_groups());
        for g in groups {
            kill_group(g);
            all.remove(&g);
        }
    }
}

/// Process supervisors still running (each holds its process's pipes until
/// the last output is read), and a wake-up for whoever waits for the last
/// one to end.
struct Supervisors {
    running: AtomicUsize,
    none_left: Notify,
}

static SUPERVISORS: Supervisors = Supervisors { running: AtomicUsize::new(0), none_left: Notify::const_new() };

/// Held by a process supervisor for as long as it runs; dropping it (at its
/// end, or if its task is dropped) counts it out.
pub(super) struct Supervising(());

impl Supervising {
    pub(super) fn start() -> Self {
        SUPERVISORS.running.fetch_add(1, Ordering::SeqCst);
        Supervising(())
    }
}

impl Drop for Supervising {
    fn drop(&mut self) {
        if SUPERVISORS.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            SUPERVISORS.none_left.notify_waiters();
        }
    }
}

/// Waits (up to `patience`) until no process supervisor is running.
pub async fn supervisors_done(patience: Duration) {
    let none_left = async {
        loop {
            // Registered before the count is read: a supervisor ending in
            // between still wakes this one.
            let notified = SUPERVISORS.none_left.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if SUPERVISORS.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    };
    let _ = tokio::time::timeout(patience, none_left).await;
}

/// Kills every process group of every step (used when exiting at once on a
/// second Ctrl-C).
pub fn kill_everything() {
    for g in lock(all_groups()).drain() {
        kill_group(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_end_of_a_run_waits_for_the_last_supervisor_and_no_longer() {
        let t0 = tokio::time::Instant::now();
        let (first, second) = (Supervising::start(), Supervising::start());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(first);
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(second);
        });
        supervisors_done(Duration::from_secs(3)).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(30));
        // One that never ends is waited for as long as the patience lasts.
        let stuck = Supervising::start();
        supervisors_done(Duration::from_millis(500)).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(530));
        drop(stuck);
        supervisors_done(Duration::from_secs(3)).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(530));
    }
}
