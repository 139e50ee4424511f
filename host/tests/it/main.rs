//! baton's end-to-end tests: real pipelines run by the real `baton` binary
//! with guest fixtures built from `tests/fixtures/`. One module per area.

mod harness;
mod nats_server;
mod registry_server;

mod artifacts;
mod check;
mod chromium;
mod cluster;
mod cluster_auth;
mod cluster_coordinator;
mod cluster_give_up;
mod cluster_ops;
mod cluster_placement;
mod cluster_rules;
mod cluster_runs;
mod cluster_security;
mod cluster_steps;
mod escapes;
mod hostile;
mod interpreted;
mod languages;
mod output;
mod preflight;
mod processes;
mod publishing;
mod registry;
mod registry_cluster;
mod registry_signing;
mod reports;
mod resume;
mod run_basics;
mod run_outputs;
mod runs_logs;
mod scheduler;
mod secrets;
mod select_graph;
mod signals;
mod versions;
mod workspaces;
