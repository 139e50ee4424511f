//! `storage`: what baton keeps on disk under `.baton/` next to the pipeline
//! file: run directories (`runs/<id>/`: journal, logs, reports) and what is
//! read back from them (`run_info`, `log_excerpt`), the step durations used
//! for critical-path priority, and the artifact store.

pub mod artifacts;
pub mod atomic;
pub mod durations;
pub mod journal;
pub mod log_excerpt;
pub mod rel_path;
pub mod run_info;
pub mod runs;
pub mod step_log;
