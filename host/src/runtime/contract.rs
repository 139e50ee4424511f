//! The `baton:stage` contract version this host speaks, and the check of a
//! plugin's imports and exports against it. Plugins ship independently of
//! the host: a plugin built against any `0.1.z` runs on this host (semver:
//! for `0.x`, the minor version is the compatibility boundary); anything
//! else is refused at load with both versions named.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The contract version of this host's `wit/`.
pub const VERSION: &str = "0.1.1";

/// The package of the contract.
pub const PACKAGE: &str = "baton:stage";

/// WASI packages the host provides (`wasi:sockets` is linked but denies
/// everything).
const WASI_PACKAGES: [&str; 6] =
    ["wasi:io", "wasi:cli", "wasi:clocks", "wasi:filesystem", "wasi:random", "wasi:sockets"];

pub use crate::plan::policy::CAPABILITIES;

/// The capability an import asks for (`None` for type-only interfaces).
pub fn capability_of(import: &str) -> Option<&'static str> {
    let (pkg, iface, _) = split_name(import);
    Some(match (pkg, iface) {
        (PACKAGE, "types") => return None,
        (PACKAGE, "log") => "log",
        (PACKAGE, "process") => "process",
        (PACKAGE, "artifacts") => "artifacts",
        (PACKAGE, "signals") => "signals",
        ("wasi:filesystem", _) => "filesystem",
        ("wasi:sockets", _) => "sockets",
        ("wasi:clocks", _) => "clocks",
        ("wasi:random", _) => "random",
        ("wasi:cli", _) => "cli",
        ("wasi:io", _) => "io",
        _ => "unknown",
    })
}

/// `(capability, import)` for every import of a component.
pub fn capabilities(engine: &Engine, component: &Component) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| capability_of(name).map(|c| (c, name.to_string())))
        .collect();
    out.sort_by_key(|(c, name)| (CAPABILITIES.iter().position(|k| k == c).unwrap_or(usize::MAX), name.clone()));
    out
}

/// The part of a version that must match: `0.1` for `0.1.z`, `1` for `1.y.z`.
pub fn compat_key(version: &str) -> String {
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("");
    if major == "0" { format!("0.{minor}") } else { major.to_string() }
}

/// Splits `ns:pkg/iface@ver` into `("ns:pkg", "iface", Some("ver"))`.
pub fn split_name(name: &str) -> (&str, &str, Option<&str>) {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    match path.split_once('/') {
        Some((pkg, iface)) => (pkg, iface, version),
        None => (path, "", version),
    }
}

/// Checks a compiled component against this host's contract; returns the
/// `baton:stage` version it was built against.
pub fn check(engine: &Engine, component: &Component) -> Result<String, String> {
    let ty = component.component_type();
    let host = compat_key(VERSION);
    let mut found: Option<String> = None;
    let mut exports = Vec::new();
    for (name, _) in ty.exports(engine) {
        exports.push(name.to_string());
        let (pkg, iface, version) = split_name(name);
        if pkg == PACKAGE && iface == "plugin" {
            found = Some(version.unwrap_or("").to_string());
        }
    }
    let Some(version) = found else {
        let shown = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
        return Err(format!(
            "does not export `{PACKAGE}/plugin` (it is not a baton stage; it exports {shown}); \
             build it against the `stage` world of {PACKAGE}@{VERSION}"
        ));
    };
    if compat_key(&version) != host {
        return Err(format!(
            "was built against {PACKAGE}@{version}, but this host speaks {PACKAGE}@{VERSION} \
             (compatible plugins are built against {host}.x)"
        ));
    }
    for (name, _) in ty.imports(engine) {
        let (pkg, iface, v) = split_name(name);
        if pkg == PACKAGE {
            let v = v.unwrap_or("");
            if compat_key(v) != host {
                return Err(format!(
                    "imports `{name}`, built against {PACKAGE}@{v}, but this host speaks {PACKAGE}@{VERSION}"
                ));
            }
            if !["types", "log", "process", "artifacts", "signals"].contains(&iface) {
                return Err(format!("imports `{name}`, which this host ({PACKAGE}@{VERSION}) does not provide"));
            }
        } else if !WASI_PACKAGES.contains(&pkg) || !v.is_some_and(|v| v.starts_with("0.2.")) {
            return Err(format!(
                "imports `{name}`, which this host does not provide (it provides {PACKAGE}@{host}.x and wasi 0.2.x: \
                 io, cli, clocks, filesystem, random, sockets)"
            ));
        }
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_follows_semver_for_zero_versions() {
        assert_eq!(compat_key("0.1.0"), "0.1");
        assert_eq!(compat_key("0.1.7"), "0.1");
        assert_ne!(compat_key("0.2.0"), compat_key("0.1.0"));
        assert_eq!(compat_key("1.4.2"), "1");
    }

    #[test]
    fn imports_map_to_capabilities() {
        assert_eq!(capability_of("baton:stage/process@0.1.0"), Some("process"));
        assert_eq!(capability_of("baton:stage/types@0.1.0"), None);
        assert_eq!(capability_of("wasi:sockets/tcp@0.2.6"), Some("sockets"));
        assert_eq!(capability_of("acme:vault/secrets@1.0.0"), Some("unknown"));
    }

    #[test]
    fn names_split_into_package_interface_version() {
        assert_eq!(split_name("baton:stage/log@0.1.0"), ("baton:stage", "log", Some("0.1.0")));
        assert_eq!(split_name("wasi:cli/stdout@0.2.6"), ("wasi:cli", "stdout", Some("0.2.6")));
        assert_eq!(split_name("run"), ("run", "", None));
    }
}
