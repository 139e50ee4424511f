//! `sandbox`: everything that decides what a stage may do, in one place:
//! `policy` (trust, allow-lists, limits; deny by default), `wasi` (the WASI
//! context a policy gives), `limits` (memory/table/instance limiter),
//! `paths` (nothing escapes the workspace), `scratch` (the private `/tmp`),
//! `confine` (how steps' processes are started: bubblewrap for untrusted
//! ones, a pid namespace for all), `identity` (the unprivileged user
//! untrusted processes run as), `cgroup` (the pids cgroup of a process tree),
//! `secrets` (the values of the variables steps list in `secrets`).

pub mod cgroup;
pub mod confine;
pub mod identity;
pub mod limits;
pub mod paths;
pub mod pidns;
pub mod policy;
pub mod scratch;
pub mod secrets;
pub mod staging;
pub mod state_dirs;
pub mod sweep;
pub mod wasi;
