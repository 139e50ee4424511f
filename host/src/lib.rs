//! # baton-host
//!
//! The `baton` pipeline host: it schedules a graph of boards and steps in
//! parallel and runs each step as a sandboxed WebAssembly component.
//!
//! # Layout
//!
//! - [`plan`]: a pipeline file turned into a validated step graph.
//! - [`scheduler`]: runs the graph: ready set, pools, failures, retries,
//!   signals, cancellation, resume.
//! - [`executor`]: the boundary between the scheduler and what runs an
//!   attempt (the trait, its reports, requests and outcomes).
//! - [`runtime`]: the wasmtime engine, compile cache, plugin loading, the one
//!   `bindgen!` site, and one file per WIT interface under `runtime/host/`.
//! - [`cluster`]: one pipeline on many machines over NATS JetStream: blobs
//!   by digest, attempt ownership by compare-and-set, signals, heartbeats.
//! - [`cache`]: the step cache: keys, write-once entries in namespaces,
//!   restoring a hit's outputs.
//! - [`sandbox`]: policy (trust, limits, allow-lists), WASI context, path
//!   checks, process confinement.
//! - [`storage`]: run directories, the state journal, step logs, artifacts.
//! - [`registry`]: plugins from OCI registries: references, the
//!   distribution client and its auth, the digest-keyed cache, `baton.lock`.
//! - [`report`]: the end-of-run report (text summary, JSON, JUnit XML, the
//!   HTML page, graph SVG).
//! - [`status`]: how steps, attempts and runs end (serde enums; a leaf).
//! - [`text`]: what reaches people: control characters escaped, secrets masked.
//! - [`trybot`]: a try run's trees: the trusted one and the patched copy.
//! - [`serve`]: the live web view of runs (`baton serve`, `baton run --serve`).
//! - [`cli`]: one file per subcommand.
//! - [`env_vars`]: every `BATON_*` variable the host reads (a leaf).
//! - [`units`]: sizes and durations as the pipeline file writes them (a leaf).
//!
//! # Dependency order
//!
//! The modules import each other along one direction, lowest first:
//! `env_vars`, `units`, `status` → `text` → `storage` → `registry` → `plan`
//! → `trybot` → `sandbox` → `cache` → `report` → `executor` → `runtime` → `cluster` → `scheduler` → `serve` → `cli`.
//! A module uses only those before it; `layering_tests` checks this on the
//! source.

pub mod cache;
pub mod cli;
pub mod cluster;
pub mod env_vars;
pub mod executor;
pub mod plan;
pub mod registry;
pub mod report;
pub mod runtime;
pub mod sandbox;
pub mod scheduler;
pub mod serve;
pub mod status;
pub mod storage;
pub mod text;
pub mod trybot;
pub mod units;

#[cfg(test)]
mod layering_tests;
