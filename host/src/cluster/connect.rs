//! How baton reaches the NATS server, and when it refuses to.
//!
//! Whoever the server lets in can read and write every bucket and subject
//! baton uses: submit attempts, plant objects, read the attempts' state.
//! Signatures ([`super::identity`]) keep a forged result from counting, but
//! only the server's authentication and permissions keep strangers out. So:
//! - a plain `nats://` connection to a host that is not loopback is refused
//!   (credentials and artifacts would cross the network in clear): use
//!   `tls://` (with `--nats-ca` for a private CA);
//! - a server that lets in clients without credentials (its `INFO` says
//!   `auth_required: false`) is warned about; it is refused when it is not
//!   on loopback, and by a coordinator whose run has secrets;
//! - `--insecure` allows both, saying so.
//!
//! Credentials come from the URL (`tls://user:password@host:4222`) or the
//! environment: `BATON_NATS_CREDS` (a `.creds` file), `BATON_NATS_USER` and
//! `BATON_NATS_PASSWORD`, or `BATON_NATS_TOKEN`. Workers and coordinators
//! should hold different users, with the permissions docs/cluster.md lists.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::ClusterError;
use crate::env_vars;

static INSECURE: AtomicBool = AtomicBool::new(false);
static CA: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();

/// `--insecure`: connect to servers this module would refuse.
pub fn set_insecure(on: bool) {
    INSECURE.store(on, Ordering::Relaxed);
}

pub fn insecure() -> bool {
    INSECURE.load(Ordering::Relaxed)
}

/// `--nats-ca FILE` (else `BATON_NATS_CA`).
pub fn set_ca(file: Option<PathBuf>) {
    *CA.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner()) = file;
}

fn ca() -> Option<PathBuf> {
    let flag = CA.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner()).clone();
    flag.or_else(|| std::env::var_os(env_vars::NATS_CA).filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What the connection learned about the server.
#[derive(Debug, Clone, Copy)]
pub struct Security {
    /// The server asks clients for credentials.
    pub auth_required: bool,
    /// Every host of the URL is a loopback address.
    pub loopback: bool,
}

/// The hosts of `url` (one or more comma-separated server URLs).
fn hosts(url: &str) -> Vec<String> {
    url.split(',')
        .map(|u| {
            let u = u.trim();
            let rest = u.split_once("://").map_or(u, |(_, r)| r);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
            let rest = rest.split('/').next().unwrap_or("");
            if let Some(v6) = rest.strip_prefix('[') {
                v6.split(']').next().unwrap_or("").to_string()
            } else {
                rest.split(':').next().unwrap_or("").to_string()
            }
        })
        .collect()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether every server of `url` is spoken to over TLS.
fn is_tls(url: &str) -> bool {
    url.split(',').all(|u| u.trim().to_ascii_lowercase().starts_with("tls://"))
}

/// Refuses a plain connection to a host that is not loopback (before any
/// byte, credentials included, is sent).
fn check_transport(url: &str, shown: &str) -> Result<(), ClusterError> {
    let remote: Vec<String> = hosts(url).into_iter().filter(|h| !is_loopback(h)).collect();
    if remote.is_empty() || is_tls(url) || ca().is_some() {
        return Ok(());
    }
    if insecure() {
        eprintln!(
            "baton: warning: talking plain nats:// to {} (--insecure): credentials, secrets' requests and artifacts cross the network unencrypted",
            remote.join(", ")
        );
        return Ok(());
    }
    Err(ClusterError::Invalid(format!(
        "refusing to talk plain nats:// to {} ({shown}): what crosses the network would be readable and forgeable; use tls://HOST:PORT (with --nats-ca or BATON_NATS_CA for a private CA), or pass --insecure to accept the risk",
        remote.join(", ")
    )))
}

/// The URL with any password replaced by `***` (for messages).
pub fn shown_url(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.split_once("://"), u.rsplit_once('@')) {
            (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
            _ => u.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Connects to `url` with the credentials and CA of the environment, and
/// checks the server as the module doc says.
pub async fn connect(url: &str) -> Result<(async_nats::Client, Security), ClusterError> {
    let shown = shown_url(url);
    check_transport(url, &shown)?;
    let connect_error =
        |e: &dyn std::fmt::Display| ClusterError::Connect { url: shown.clone(), message: e.to_string() };
    let mut options = async_nats::ConnectOptions::new().name("baton").connection_timeout(Duration::from_secs(5));
    if let Some(ca) = ca() {
        if !ca.is_file() {
            return Err(ClusterError::Invalid(format!(
                "the NATS CA file {} does not exist (--nats-ca / BATON_NATS_CA)",
                ca.display()
            )));
        }
        options = options.add_root_certificates(ca).require_tls(true);
    }
    if let Some(creds) = env(env_vars::NATS_CREDS) {
        options = options.credentials_file(&creds).await.map_err(|e| {
            ClusterError::Invalid(format!("cannot read the NATS credentials file {creds} (BATON_NATS_CREDS): {e}"))
        })?;
    }
    if let (Some(user), Some(password)) = (env(env_vars::NATS_USER), env(env_vars::NATS_PASSWORD)) {
        options = options.user_and_password(user, password);
    }
    if let Some(token) = env(env_vars::NATS_TOKEN) {
        options = options.token(token);
    }
    let client = tokio::time::timeout(Duration::from_secs(10), options.connect(url))
        .await
        .map_err(|_| connect_error(&"no answer in 10 s"))?
        .map_err(|e| connect_error(&e))?;
    let info = client.server_info();
    let security = Security { auth_required: info.auth_required, loopback: hosts(url).iter().all(|h| is_loopback(h)) };
    if !security.auth_required {
        if !security.loopback && !insecure() {
            return Err(ClusterError::Invalid(format!(
                "refusing the NATS server at {shown}: it lets in clients without credentials, so anyone who reaches it can submit attempts, plant objects and disrupt runs; configure authorization (see docs/cluster.md), or pass --insecure to accept the risk"
            )));
        }
        warn_once(&format!(
            "baton: warning: the NATS server at {shown} lets in clients without credentials: anyone who reaches it can submit attempts and disrupt runs (see docs/cluster.md)"
        ));
    }
    Ok((client, security))
}

fn warn_once(text: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("{}", crate::text::escape_text(text));
    }
}

/// A coordinator's check once it knows its run: a run with secrets is not
/// sent through a server that lets anyone in.
pub fn check_run(security: Security, has_secrets: bool, url_shown: &str) -> Result<(), ClusterError> {
    if security.auth_required || !has_secrets {
        return Ok(());
    }
    if insecure() {
        eprintln!(
            "baton: warning: this run's secrets go through a NATS server that lets in clients without credentials (--insecure)"
        );
        return Ok(());
    }
    Err(ClusterError::Invalid(format!(
        "refusing to run steps with secrets through the NATS server at {url_shown}: it lets in clients without credentials, who could take the workers' place; configure authorization (see docs/cluster.md), or pass --insecure to accept the risk"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_loopback_are_read_from_the_url() {
        assert_eq!(hosts("nats://127.0.0.1:4222"), ["127.0.0.1"]);
        assert_eq!(hosts("tls://u:p@build.example:4222,nats://[::1]:4222"), ["build.example", "::1"]);
        assert!(is_loopback("localhost") && is_loopback("::1") && is_loopback("127.0.0.2"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback("build.example"));
        assert!(is_tls("tls://a:1") && !is_tls("tls://a:1,nats://b:2"));
        assert_eq!(shown_url("tls://u:secret@h:1"), "tls://***@h:1");
    }

    #[test]
    fn plain_nats_to_a_remote_host_is_refused() {
        let err = check_transport("nats://10.1.2.3:4222", "nats://10.1.2.3:4222").unwrap_err().to_string();
        assert!(err.starts_with("refusing to talk plain nats:// to 10.1.2.3 (nats://10.1.2.3:4222)"), "{err}");
        assert!(check_transport("nats://127.0.0.1:4222", "x").is_ok());
        assert!(check_transport("tls://10.1.2.3:4222", "x").is_ok());
    }
}
