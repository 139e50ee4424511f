//! baton's end-to-end tests: real pipelines run by the real `baton` binary
//! with guest fixtures built from `tests/fixtures/`. One module per area.

mod harness;

mod artifacts;
mod check;
mod chromium;
mod hostile;
mod languages;
mod output;
mod processes;
mod reports;
mod resume;
mod run_basics;
mod runs_logs;
mod scheduler;
mod secrets;
mod select_graph;
mod signals;
mod versions;
