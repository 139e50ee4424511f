//! Registry credentials: anonymous, Basic (user and password) or a bearer
//! token, from `BATON_REGISTRY_*` variables or Docker's config file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, with its
//! `auths`, `credHelpers` and `credsStore`). Credentials live in memory only:
//! their `Debug` hides them and no error message contains them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Variables read here (declared once, documented in README's "Shipping a plugin").
pub const ENV_HOST: &str = crate::env_vars::REGISTRY_HOST;
pub const ENV_USERNAME: &str = crate::env_vars::REGISTRY_USERNAME;
pub const ENV_PASSWORD: &str = crate::env_vars::REGISTRY_PASSWORD;
pub const ENV_TOKEN: &str = crate::env_vars::REGISTRY_TOKEN;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// A registry token sent as `Authorization: Bearer`.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("anonymous"),
            Credentials::Basic { username, .. } => write!(f, "basic auth as {username}"),
            Credentials::Bearer(_) => f.write_str("bearer token"),
        }
    }
}

impl Credentials {
    /// `Authorization` header value for Basic auth, if these are a user and password.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => {
                Some(format!("Basic {}", STANDARD.encode(format!("{username}:{password}"))))
            }
            _ => None,
        }
    }
}

/// Credentials that cannot be used; the message says which setting to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// The credentials for `registry` (`host[:port]`): the `BATON_REGISTRY_*`
/// variables when `BATON_REGISTRY_HOST` names this registry, else Docker's
/// config file, else anonymous.
pub fn for_registry(registry: &str) -> Result<Credentials, AuthError> {
    let var = |k: &str| crate::env_vars::var(k).ok().filter(|v| !v.is_empty());
    let (user, pass, token) = (var(ENV_USERNAME), var(ENV_PASSWORD), var(ENV_TOKEN));
    if user.is_some() || pass.is_some() || token.is_some() {
        let Some(host) = var(ENV_HOST) else {
            return Err(AuthError(format!(
                "{ENV_USERNAME}/{ENV_PASSWORD}/{ENV_TOKEN} are set but {ENV_HOST} is not: \
                 set it to the registry they are for (e.g. `ghcr.io`), so that they are never sent elsewhere"
            )));
        };
        if same_registry(&host, registry) {
            return match (user, pass, token) {
                (_, _, Some(t)) => Ok(Credentials::Bearer(t)),
                (Some(username), Some(password), None) => Ok(Credentials::Basic { username, password }),
                _ => Err(AuthError(format!("set both {ENV_USERNAME} and {ENV_PASSWORD} (or {ENV_TOKEN})"))),
            };
        }
    }
    docker_config(registry)
}

/// `ghcr.io`, `https://ghcr.io` and `https://ghcr.io/v1/` name one registry.
fn same_registry(key: &str, registry: &str) -> bool {
    let k = key.trim_start_matches("https://").trim_start_matches("http://");
    k.split('/').next() == Some(registry)
}

fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => Some(PathBuf::from(d).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

fn docker_config(registry: &str) -> Result<Credentials, AuthError> {
    let Some(path) = docker_config_path() else {
        return Ok(Credentials::Anonymous);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(e) => return Err(AuthError(format!("cannot read {}: {e}", path.display()))),
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| AuthError(format!("{} is not valid JSON: {e} (fix it or set DOCKER_CONFIG)", path.display())))?;
    let shown = path.display();
    if let Some(helper) = json["credHelpers"].as_object().and_then(|h| {
        h.iter().find(|(k, _)| same_registry(k, registry)).and_then(|(_, v)| v.as_str().map(str::to_string))
    }) {
        return helper_get(&helper, registry);
    }
    if let Some((_, entry)) = json["auths"].as_object().and_then(|a| a.iter().find(|(k, _)| same_registry(k, registry)))
    {
        if let Some(t) = entry["registrytoken"].as_str().filter(|t| !t.is_empty()) {
            return Ok(Credentials::Bearer(t.to_string()));
        }
        if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
            return Ok(Credentials::Basic { username: u.into(), password: p.into() });
        }
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = STANDARD.decode(auth.trim()).ok().and_then(|b| String::from_utf8(b).ok());
            return match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((u, p)) => Ok(Credentials::Basic { username: u.into(), password: p.into() }),
                None => Err(AuthError(format!(
                    "{shown}: the `auth` entry of {registry} is not base64 of `user:password` (run `docker login {registry}` again)"
                ))),
            };
        }
        // An entry without secrets: the secrets are in the credential store.
    }
    match json["credsStore"].as_str().filter(|s| !s.is_empty()) {
        Some(store) => helper_get(store, registry).or(Ok(Credentials::Anonymous)),
        None => Ok(Credentials::Anonymous),
    }
}

/// Asks `docker-credential-<helper> get` for the registry's credentials.
fn helper_get(helper: &str, registry: &str) -> Result<Credentials, AuthError> {
    let program = format!("docker-credential-{helper}");
    let fail = |m: String| AuthError(format!("credential helper {program} for {registry}: {m}"));
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!("has no credentials for it ({})", out.status)));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|_| fail("printed no JSON".into()))?;
    match (json["Username"].as_str(), json["Secret"].as_str()) {
        (Some(u), Some(s)) => Ok(Credentials::Basic { username: u.into(), password: s.into() }),
        _ => Err(fail("printed no Username and Secret".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Basic { username: "ci".into(), password: "hunter2".into() };
        assert_eq!(format!("{c:?}"), "basic auth as ci");
        assert_eq!(format!("{:?}", Credentials::Bearer("tok".into())), "bearer token");
        assert_eq!(c.basic_header().as_deref(), Some("Basic Y2k6aHVudGVyMg=="));
    }

    #[test]
    fn docker_keys_name_registries() {
        assert!(same_registry("https://ghcr.io", "ghcr.io"));
        assert!(same_registry("https://index.example/v1/", "index.example"));
        assert!(same_registry("127.0.0.1:5000", "127.0.0.1:5000"));
        assert!(!same_registry("127.0.0.1:5000", "127.0.0.1:5001"));
    }
}
