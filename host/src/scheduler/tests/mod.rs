//! Unit tests of the scheduler, driven by a scripted executor: each attempt
//! plays a script (sleep, emit, wait, publish, fetch, fail) in virtual time
//! (tokio's paused clock), so a test takes milliseconds and its trace of
//! what happened when is exact. No wasmtime, no processes.

mod failures;
mod harness;
mod order;
mod requests;
