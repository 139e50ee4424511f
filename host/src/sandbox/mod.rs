//! `sandbox`: everything that decides what a stage may do, in one place:
//! `policy` (trust, allow-lists, limits; deny by default), `wasi` (the WASI
//! context a policy gives), `limits` (memory/table/instance limiter),
//! `paths` (nothing escapes the workspace), `scratch` (the private `/tmp`),
//! `confine` (how processes of
//! untrusted steps are confined with bubblewrap), `secrets` (the values of
//! the variables steps list in `secrets`).

pub mod confine;
pub mod limits;
pub mod paths;
pub mod policy;
pub mod scratch;
pub mod secrets;
pub mod wasi;
