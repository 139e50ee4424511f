//! SIGINT and SIGTERM, watched on a thread of their own.
//!
//! The signal watcher used to be a task of the run's runtime: a stage that
//! blocked every worker thread (a host call stuck in the kernel) blocked it
//! too, and baton acknowledged nothing, or acknowledged and never ended. A
//! dedicated thread with a small runtime of its own answers whatever the
//! run's threads are doing: the first signal asks the run to stop cleanly,
//! the second kills every process of every step, removes baton's cgroups and
//! scratch directories, and exits at once (130).

use tokio::signal::unix::{SignalKind, signal};

/// Starts the watcher: `first` runs on the first signal, and the process
/// exits on the second.
pub fn watch(first: impl FnOnce() + Send + 'static) {
    let started = std::thread::Builder::new().name("baton-signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
            return;
        };
        rt.block_on(async move {
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            let mut first = Some(first);
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                match first.take() {
                    Some(f) => f(),
                    None => exit_now(),
                }
            }
        });
    });
    if let Err(e) = started {
        eprintln!("baton: cannot watch for signals: {e}");
    }
}

/// Ends baton at once, leaving no process, cgroup or scratch directory.
pub fn exit_now() -> ! {
    eprintln!("\nbaton: exiting now");
    crate::runtime::host::process::kill_everything();
    crate::sandbox::cgroup::cleanup_cgroups();
    crate::sandbox::scratch::cleanup();
    std::process::exit(130);
}
