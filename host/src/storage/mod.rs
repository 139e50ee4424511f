//! `storage`: what baton keeps on disk under `.baton/` next to the pipeline
//! file: run directories (`runs/<id>/`: journal, logs, report), the step
//! durations used for critical-path priority, and the artifact store.

pub mod artifacts;
pub mod atomic;
pub mod durations;
pub mod journal;
pub mod log_excerpt;
pub mod runs;
pub mod step_log;
