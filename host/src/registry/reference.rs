//! `oci://registry/repository[:tag][@sha256:digest]`: a plugin's address in
//! an OCI registry. The first path segment is always the registry (there is
//! no default registry: a plugin's origin is never guessed).

use std::fmt;

/// A parsed OCI reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciRef {
    /// `host` or `host:port`.
    pub registry: String,
    /// `acme/baton-junit`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`, the manifest digest.
    pub digest: Option<String>,
}

/// Why a reference does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid oci reference `{reference}`: {reason}")]
pub struct RefError {
    pub reference: String,
    pub reason: String,
}

impl OciRef {
    /// Parses `oci://registry/repository[:tag][@sha256:hex]` (the `oci://`
    /// prefix is optional). A reference with neither a tag nor a digest is
    /// refused: `latest` is never assumed.
    pub fn parse(text: &str) -> Result<OciRef, RefError> {
        let fail = |reason: &str| RefError { reference: text.to_string(), reason: reason.to_string() };
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => {
                check_digest(d).map_err(|m| fail(&m))?;
                (r, Some(d.to_string()))
            }
            None => (rest, None),
        };
        let Some((registry, path)) = rest.split_once('/') else {
            return Err(fail("expected `oci://registry/repository:tag`"));
        };
        check_registry(registry).map_err(|m| fail(&m))?;
        // A `:` after the last `/` starts the tag.
        let (repository, tag) = match path.rfind(':') {
            Some(i) if !path[i..].contains('/') => (&path[..i], Some(path[i + 1..].to_string())),
            _ => (path, None),
        };
        check_repository(repository).map_err(|m| fail(&m))?;
        if let Some(t) = &tag {
            check_tag(t).map_err(|m| fail(&m))?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(fail("no tag or digest (add `:1.2.0` or `@sha256:…`; `latest` is never assumed)"));
        }
        Ok(OciRef { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }

    /// The same reference pinned to a manifest digest (the tag is kept for display).
    pub fn with_digest(&self, digest: &str) -> OciRef {
        OciRef { digest: Some(digest.to_string()), ..self.clone() }
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn target(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// Whether the registry is on this machine (`localhost`, `127.x.x.x`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The host part of `host[:port]` (brackets kept for IPv6) is a loopback one.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = if registry.starts_with('[') {
        registry.split(']').next().map(|h| &h[1..]).unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn check_digest(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) => Ok(()),
        _ => Err(format!("digest `{d}` must be `sha256:` and 64 lowercase hex digits")),
    }
}

fn check_registry(r: &str) -> Result<(), String> {
    let ok = !r.is_empty()
        && r.len() <= 255
        && r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        return Err(format!("registry `{r}` is not a host name or `host:port`"));
    }
    if let Some((_, port)) = r.rsplit_once(':')
        && !r.ends_with(']')
        && port.parse::<u16>().is_err()
        && !r.starts_with('[')
    {
        return Err(format!("registry `{r}` has an invalid port"));
    }
    Ok(())
}

/// OCI distribution's repository grammar: lowercase path components of
/// letters and digits joined by `.`, `_`, `__` or dashes.
fn check_repository(repo: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !c.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
            && !c.contains("..")
            && !c.contains("___")
    };
    if repo.is_empty() || repo.len() > 255 || !repo.split('/').all(component_ok) {
        return Err(format!(
            "repository `{repo}` must be lowercase letters and digits separated by `/`, `.`, `_` or `-`"
        ));
    }
    Ok(())
}

fn check_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok { Ok(()) } else { Err(format!("tag `{t}` must be up to 128 letters, digits, `_`, `.` or `-`")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tag_digest_and_port() {
        let r = OciRef::parse("oci://127.0.0.1:5000/acme/baton-junit:1.2.0").expect("parse");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "acme/baton-junit");
        assert_eq!(r.tag.as_deref(), Some("1.2.0"));
        assert!(r.is_loopback());
        let r = OciRef::parse(&format!("oci://ghcr.io/acme/junit:1.0@{D}")).expect("parse");
        assert_eq!(r.target(), D);
        assert!(!r.is_loopback());
        assert_eq!(r.to_string(), format!("oci://ghcr.io/acme/junit:1.0@{D}"));
    }

    #[test]
    fn refuses_bad_references_naming_the_part() {
        let e = |t: &str| OciRef::parse(t).expect_err(t).reason;
        assert!(e("oci://ghcr.io/acme/junit").contains("no tag or digest"));
        assert!(e("oci://ghcr.io/Acme/junit:1").contains("repository `Acme/junit`"));
        assert!(e("oci://junit:1").contains("expected `oci://registry/repository:tag`"));
        assert!(e("oci://ghcr.io/acme/junit@sha256:12").contains("64 lowercase hex"));
        assert!(e("oci://ghcr.io/acme/junit:-x").contains("tag `-x`"));
        assert!(e("oci://ghcr.io:99999/acme/junit:1").contains("invalid port"));
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("localhost:5000"));
        assert!(is_loopback_host("127.8.9.1"));
        assert!(is_loopback_host("[::1]:5000"));
        assert!(!is_loopback_host("registry.example"));
        assert!(!is_loopback_host("10.0.0.1:5000"));
    }
}
