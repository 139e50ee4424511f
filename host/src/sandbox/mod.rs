//! `sandbox`: everything that decides what a stage may do, in one place:
//! `policy` (trust, allow-lists, limits; deny by default), `wasi` (the WASI
//! context a policy gives), `limits` (memory/table/instance limiter),
//! `paths` (nothing escapes the workspace), `scratch` (the private `/tmp`),
//! `src_view` (the project's source at `/src`, read-only, without `.baton/`),
//! `confine` (how processes of
//! untrusted steps are confined with bubblewrap).

pub mod confine;
pub mod limits;
pub mod paths;
pub mod policy;
pub mod scratch;
pub mod src_view;
pub mod wasi;
