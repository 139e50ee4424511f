//! Every environment variable the host reads, declared once with what it
//! does (a leaf module: it imports nothing of the crate).

/// Path of the bubblewrap binary, or `none` to act as if it were missing.
pub const BWRAP: &str = "BATON_BWRAP";
/// Host user id untrusted processes run as when baton runs as root (default 65534, `nobody`).
pub const SANDBOX_UID: &str = "BATON_SANDBOX_UID";
/// Host group id untrusted processes run as when baton runs as root (default 65534, `nogroup`).
pub const SANDBOX_GID: &str = "BATON_SANDBOX_GID";
/// Directory of the compiled-plugin cache (default: under the user's cache directory).
pub const CACHE_DIR: &str = "BATON_CACHE_DIR";
/// Max stage instances alive at once (pooling allocator size).
pub const MAX_STAGES: &str = "BATON_MAX_STAGES";
/// `0` turns the pooling allocator off.
pub const POOLING: &str = "BATON_POOLING";
/// `1` prints where a run's time went.
pub const TIMING: &str = "BATON_TIMING";
/// `1` lists the descriptors the host-usage check counts.
pub const DEBUG_FDS: &str = "BATON_DEBUG_FDS";
