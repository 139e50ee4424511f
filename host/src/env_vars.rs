//! Every environment variable the host reads, declared once with what it
//! does, and the one place that derives the cache directory from them (a
//! leaf module: it imports nothing of the crate).

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
/// Which compiler makes plugins' code: `tiered` (default: Winch first, Cranelift in the background), `winch` or `cranelift`.
pub const COMPILER: &str = "BATON_COMPILER";
/// `0` turns off Cranelift's incremental cache (compiled functions kept under the compile cache).
pub const INCREMENTAL: &str = "BATON_INCREMENTAL_CACHE";
/// `1` prints where a run's time went.
pub const TIMING: &str = "BATON_TIMING";
/// `1` lists the descriptors the host-usage check counts.
pub const DEBUG_FDS: &str = "BATON_DEBUG_FDS";
/// The cache of pulled registry plugins (default: under the cache directory).
pub const PLUGIN_CACHE: &str = "BATON_PLUGIN_CACHE";
/// The registry host that the `BATON_REGISTRY_*` credentials belong to (they are sent nowhere else).
pub const REGISTRY_HOST: &str = "BATON_REGISTRY_HOST";
/// User name for Basic auth at `BATON_REGISTRY_HOST`.
pub const REGISTRY_USERNAME: &str = "BATON_REGISTRY_USERNAME";
/// Password for Basic auth at `BATON_REGISTRY_HOST` (never written anywhere).
pub const REGISTRY_PASSWORD: &str = "BATON_REGISTRY_PASSWORD";
/// Bearer token for `BATON_REGISTRY_HOST` (never written anywhere).
pub const REGISTRY_TOKEN: &str = "BATON_REGISTRY_TOKEN";
/// Registry hosts (comma-separated) reached over plain HTTP besides loopback ones.
pub const REGISTRY_PLAIN_HTTP: &str = "BATON_REGISTRY_PLAIN_HTTP";
/// An ssh allowed-signers file: registry plugins of untrusted steps must be signed by one of its keys.
pub const ALLOWED_SIGNERS: &str = "BATON_ALLOWED_SIGNERS";

/// An operator policy file outside the project, as `baton run --policy FILE`: its `[policy.untrusted]`
/// is the ceiling of untrusted steps, and `trust = "untrusted"` in its `[policy]` makes every step untrusted.
pub const POLICY: &str = "BATON_POLICY";
/// An ssh allowed-signers file: `baton try` then needs `--signature` by one of its keys (namespace `baton-try`).
pub const TRY_SIGNERS: &str = "BATON_TRY_SIGNERS";

/// The NATS server of a cluster (`nats://host:port`), as `--nats` of `baton run`, `worker` and `workers`.
pub const NATS: &str = "BATON_NATS";

/// A CA certificate file (PEM) the NATS server's TLS certificate must chain to, as `--nats-ca`.
pub const NATS_CA: &str = "BATON_NATS_CA";

/// A NATS credentials file (`.creds`: a user JWT and its nkey seed) to connect with.
pub const NATS_CREDS: &str = "BATON_NATS_CREDS";

/// A NATS user name and password to connect with (the URL's `user:password@` works too).
pub const NATS_USER: &str = "BATON_NATS_USER";
pub const NATS_PASSWORD: &str = "BATON_NATS_PASSWORD";

/// A NATS token to connect with.
pub const NATS_TOKEN: &str = "BATON_NATS_TOKEN";

/// The token `baton serve` and `baton run --serve` require (as `--token`, kept out of `ps`).
pub const SERVE_TOKEN: &str = "BATON_SERVE_TOKEN";

/// How `baton run` reports to a CI system: `none`, `github` or `gitlab` (as `--ci-format`).
pub const CI_FORMAT: &str = "BATON_CI_FORMAT";

/// Variables baton sets for every process a step starts (see README,
/// "Workspaces and the project's source").
pub mod for_processes {
    /// The run's id.
    pub const RUN_ID: &str = "BATON_RUN_ID";
    /// The board.
    pub const BOARD: &str = "BATON_BOARD";
    /// The step, `board.step`.
    pub const STEP: &str = "BATON_STEP";
    /// The attempt, from 1.
    pub const ATTEMPT: &str = "BATON_ATTEMPT";
    /// The board's workspace.
    pub const WORKSPACE: &str = "BATON_WORKSPACE";
    /// The project's source, read-only.
    pub const SRC: &str = "BATON_SRC";
}

/// baton's cache directory: `$BATON_CACHE_DIR`, else `$XDG_CACHE_HOME/baton`,
/// else `~/.cache/baton`; `None` when `BATON_CACHE_DIR=off` (or no home).
pub fn cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    match std::env::var_os(CACHE_DIR) {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("baton")),
    }
}

/// Variables taken out of baton's environment by [`withhold`], by name.
static WITHHELD: std::sync::Mutex<Vec<(String, std::ffi::OsString)>> = std::sync::Mutex::new(Vec::new());

/// Moves the variables `names` (secrets, registry credentials) out of the
/// process environment into baton's memory, where [`var`] still finds them:
/// a process that reads `/proc/<baton>/environ`, or any child baton starts
/// without clearing its environment, does not see them.
///
/// # Safety
/// No other thread may read or change the environment meanwhile: call it
/// before any thread is started.
pub unsafe fn withhold<'a>(names: impl IntoIterator<Item = &'a str>) {
    let mut held = WITHHELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for name in names {
        if name.is_empty() || name.contains(['=', '\0']) || held.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Ok(c_name) = std::ffi::CString::new(name) else { continue };
        // SAFETY: the caller guarantees no other thread uses the
        // environment; `getenv`'s answer is a NUL-terminated string that
        // `unsetenv` leaves in place (glibc never frees it).
        unsafe {
            let value = libc::getenv(c_name.as_ptr());
            if value.is_null() {
                continue;
            }
            let len = libc::strlen(value);
            let bytes = std::slice::from_raw_parts(value.cast::<u8>(), len).to_vec();
            held.push((name.to_string(), std::os::unix::ffi::OsStringExt::from_vec(bytes)));
            std::env::remove_var(name);
            // `/proc/<pid>/environ` shows the block the process started
            // with, not the current list: the value is wiped where it lies.
            for i in 0..len {
                std::ptr::write_volatile(value.add(i), 0);
            }
        }
    }
}

/// `name`'s value, withheld or still in the environment.
pub fn var_os(name: &str) -> Option<std::ffi::OsString> {
    let held = WITHHELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match held.iter().find(|(n, _)| n == name) {
        Some((_, v)) => Some(v.clone()),
        None => std::env::var_os(name),
    }
}

/// `name`'s value as `std::env::var` gives it, withheld or not.
pub fn var(name: &str) -> Result<String, std::env::VarError> {
    match var_os(name) {
        None => Err(std::env::VarError::NotPresent),
        Some(v) => v.into_string().map_err(std::env::VarError::NotUnicode),
    }
}
