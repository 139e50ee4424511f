//! The host's own footprint (resident memory, open file descriptors) at the
//! start and end of a run: after every stage is gone, both should be back
//! where they started, whatever the stages did.

use serde::{Deserialize, Serialize};

/// A sample of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSample {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Open files, directories, pipes and process handles: what a stage
    /// could make the host leak. Process-lifetime descriptors created on
    /// first use (the runtime's event loop and signal socket, the kernel's
    /// pagemap used to reset memory slots) are not counted.
    pub fds: u64,
}

/// Start and end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostUsage {
    pub start: HostSample,
    pub end: HostSample,
}

pub fn sample() -> HostSample {
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.flatten().filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| counts(&t))).count() as u64)
        .unwrap_or(0);
    HostSample { rss_kib, fds }
}

/// The descriptors [`sample`] counts, for diagnosis (`BATON_DEBUG_FDS=1`).
pub fn counted_fds() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|t| counts(t))
                .map(|t| t.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn counts(target: &std::path::Path) -> bool {
    let t = target.to_string_lossy();
    !(t.starts_with("socket:")
        || t.ends_with("/pagemap")
        || t == "anon_inode:[eventpoll]"
        || t == "anon_inode:[eventfd]"
        || t == "anon_inode:[signalfd]"
        || t == "anon_inode:[timerfd]")
}

/// Samples at the end, giving process reapers (which hold pipes until the
/// last output is read) up to `patience` to finish.
pub fn settled(start: HostSample, patience: std::time::Duration) -> HostSample {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let now = sample();
        if now.fds <= start.fds || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
