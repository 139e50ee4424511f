//! A small client of the OCI distribution API, enough for plugins: resolve a
//! tag to a manifest digest, fetch a manifest or a blob (verified against its
//! digest before anything keeps it), push blobs (monolithic uploads) and a
//! manifest. Auth: none, Basic, or bearer tokens (given, or obtained from the
//! registry's token service after a `401` challenge). HTTPS, except for
//! loopback registries and those listed in `BATON_REGISTRY_PLAIN_HTTP`.

use std::time::Duration;

use ureq::http::{self, Response, StatusCode};

use super::auth::{self, Credentials};
use super::cache::digest_of;
use super::manifest::{MANIFEST_TYPE, MAX_MANIFEST};
use super::reference::{OciRef, is_loopback_host};

/// Registries (`host[:port]`, comma-separated) reached over plain HTTP.
pub const ENV_PLAIN_HTTP: &str = crate::env_vars::REGISTRY_PLAIN_HTTP;

/// Why talking to a registry failed. Every message names the registry.
/// Every field is shown escaped (`text::escape_line`): a registry's words
/// (its error text, a redirect's address, a token realm) reach a terminal
/// through these messages, and an OSC sequence in them must arrive inert.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {} is unreachable: {}", e(.registry), e(.detail))]
    Unreachable { registry: String, detail: String },
    #[error("registry {} refused access to {} ({status}): {}", e(.registry), e(.what), e(.hint))]
    Denied { registry: String, what: String, status: u16, hint: String },
    #[error("registry {} has no {} (manifest or tag unknown)", e(.registry), e(.what))]
    NotFound { registry: String, what: String },
    #[error(
        "registry {} served {} whose bytes hash to {}, not {}: the bytes are discarded",
        e(.registry), e(.what), e(.actual), e(.expected)
    )]
    DigestMismatch { registry: String, what: String, expected: String, actual: String },
    #[error("registry {}: {}: {}", e(.registry), e(.what), e(.reason))]
    Bad { registry: String, what: String, reason: String },
    #[error("registry {}: {}", e(.1), e(&.0.to_string()))]
    Auth(auth::AuthError, String),
}

/// A registry's or a user's words, escaped for a terminal (one line).
fn e(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape_line(s)
}

/// One repository of one registry, with its credentials and, once obtained,
/// its bearer token.
pub struct Session {
    agent: ureq::Agent,
    base: String,
    registry: String,
    repository: String,
    creds: Credentials,
    /// `Authorization` header to send (a token once the challenge was met).
    authorization: Option<String>,
    push: bool,
}

impl Session {
    /// A session for `reference`'s repository; `push` asks for push access.
    pub fn new(reference: &OciRef, push: bool) -> Result<Session, RegistryError> {
        let creds =
            auth::for_registry(&reference.registry).map_err(|e| RegistryError::Auth(e, reference.registry.clone()))?;
        Ok(Self::with_credentials(reference, push, creds))
    }

    /// A session with the given credentials.
    pub fn with_credentials(reference: &OciRef, push: bool, creds: Credentials) -> Session {
        let authorization = match &creds {
            Credentials::Bearer(t) => Some(format!("Bearer {t}")),
            _ => None,
        };
        let mut config = ureq::Agent::config_builder();
        if reference.is_loopback() {
            // A registry on this machine is never reached through an HTTP(S)_PROXY.
            config = config.proxy(None);
        }
        let config = config
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            // A registry that trickles its answer cannot hold pre-flight
            // for long: no read may stall for more than 30 s, and a whole
            // request (the largest plugin included) ends within 300 s.
            .timeout_per_read(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_global(Some(Duration::from_secs(300)))
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build();
        Session {
            agent: config.into(),
            base: format!("{}://{}", scheme(&reference.registry), reference.registry),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            creds,
            authorization,
            push,
        }
    }

    /// The manifest `target` (a tag or a digest) names: its digest and bytes.
    /// A digest target is verified against the bytes.
    pub fn manifest(&mut self, target: &str) -> Result<(String, Vec<u8>), RegistryError> {
        let what = format!("{}:{target}", self.repository);
        let url = format!("{}/v2/{}/manifests/{target}", self.base, self.repository);
        let mut resp = self.send("GET", &url, &[("Accept", MANIFEST_TYPE)], None, &what)?;
        let bytes = self.read(&mut resp, MAX_MANIFEST, &what)?;
        let actual = digest_of(&bytes);
        if target.starts_with("sha256:") && actual != target {
            return Err(self.mismatch(&what, target, &actual));
        }
        Ok((actual, bytes))
    }

    /// The blob `digest` (at most `max` bytes), verified against its digest.
    pub fn blob(&mut self, digest: &str, max: u64) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {digest} of {}", self.repository);
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let mut resp = self.send("GET", &url, &[], None, &what)?;
        let bytes = self.read(&mut resp, max, &what)?;
        let actual = digest_of(&bytes);
        if actual != digest {
            return Err(self.mismatch(&what, digest, &actual));
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob unless the registry has it already.
    pub fn push_blob(&mut self, bytes: &[u8]) -> Result<String, RegistryError> {
        let digest = digest_of(bytes);
        let what = format!("blob {digest} of {}", self.repository);
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        if self.send("HEAD", &url, &[], None, &what).is_ok() {
            return Ok(digest);
        }
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let resp = self.send("POST", &start, &[], Some(&[]), &what)?;
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.bad(&what, "the upload has no Location header".into()))?;
        let location = if location.starts_with('/') { format!("{}{location}", self.base) } else { location.into() };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        self.send("PUT", &put, &[("Content-Type", "application/octet-stream")], Some(bytes), &what)?;
        Ok(digest)
    }

    /// Puts a manifest under `tag`; returns its digest.
    pub fn push_manifest(&mut self, tag: &str, bytes: &[u8]) -> Result<String, RegistryError> {
        let what = format!("{}:{tag}", self.repository);
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.repository);
        self.send("PUT", &url, &[("Content-Type", MANIFEST_TYPE)], Some(bytes), &what)?;
        Ok(digest_of(bytes))
    }

    /// Sends a request, meeting one auth challenge; any non-2xx status is an error.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut challenged = false;
        loop {
            let resp = self.once(method, url, headers, body)?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge =
                    resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                if self.meet(&challenge, what)? {
                    continue;
                }
            }
            return match status.as_u16() {
                200..=299 => Ok(resp),
                401 | 403 => Err(self.denied(what, status.as_u16())),
                404 => Err(RegistryError::NotFound { registry: self.registry.clone(), what: what.into() }),
                code => Err(self.bad(what, format!("{method} answered {code}{}", error_text(resp)))),
            };
        }
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let result = match body {
            Some(b) => req.body(b).map(|r| self.agent.run(r)),
            None => req.body(()).map(|r| self.agent.run(r)),
        };
        let unreachable = |detail: String| RegistryError::Unreachable { registry: self.registry.clone(), detail };
        result.map_err(|e| unreachable(format!("bad request: {e}")))?.map_err(|e| unreachable(e.to_string()))
    }

    /// Meets a `WWW-Authenticate` challenge; false if it cannot be met.
    fn meet(&mut self, challenge: &str, what: &str) -> Result<bool, RegistryError> {
        let (kind, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if kind.eq_ignore_ascii_case("basic") {
            return Ok(match self.creds.basic_header() {
                Some(h) => {
                    self.authorization = Some(h);
                    true
                }
                None => false,
            });
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            return Ok(false);
        }
        let params = parse_params(params);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let Some(realm) = get("realm") else {
            return Ok(false);
        };
        let realm_host = realm.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
        if !realm.starts_with("https://") && !plain_http_allowed(realm_host) {
            return Err(
                self.bad(what, format!("its token service {realm} is not HTTPS; baton sends no credentials there"))
            );
        }
        let actions = if self.push { "pull,push" } else { "pull" };
        let scope = get("scope").map_or_else(|| format!("repository:{}:{actions}", self.repository), str::to_string);
        let mut url = format!("{realm}?scope={}", encode(&scope));
        if let Some(service) = get("service") {
            url += &format!("&service={}", encode(service));
        }
        let mut req = http::Request::builder().method("GET").uri(&url);
        if let Some(h) = self.creds.basic_header() {
            req = req.header("Authorization", h);
        }
        let resp = req.body(()).map(|r| self.agent.run(r));
        let unreachable = |detail: String| RegistryError::Unreachable { registry: self.registry.clone(), detail };
        let mut resp = resp.map_err(|e| unreachable(e.to_string()))?.map_err(|e| unreachable(e.to_string()))?;
        match resp.status().as_u16() {
            200..=299 => {}
            401 | 403 => return Err(self.denied(what, resp.status().as_u16())),
            code => return Err(self.bad(what, format!("its token service answered {code}"))),
        }
        let bytes = self.read(&mut resp, 1 << 20, what)?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        match json["token"].as_str().or(json["access_token"].as_str()) {
            Some(t) => {
                self.authorization = Some(format!("Bearer {t}"));
                Ok(true)
            }
            None => Err(self.bad(what, "its token service returned no token".into())),
        }
    }

    fn read(&self, resp: &mut Response<ureq::Body>, max: u64, what: &str) -> Result<Vec<u8>, RegistryError> {
        resp.body_mut().with_config().limit(max).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => self.bad(what, format!("more than {max} bytes")),
            e => RegistryError::Unreachable { registry: self.registry.clone(), detail: e.to_string() },
        })
    }

    fn denied(&self, what: &str, status: u16) -> RegistryError {
        let hint = match self.creds {
            Credentials::Anonymous => format!(
                "give credentials with {}={} and {}/{} (or {}), or `docker login {}`",
                auth::ENV_HOST,
                self.registry,
                auth::ENV_USERNAME,
                auth::ENV_PASSWORD,
                auth::ENV_TOKEN,
                self.registry
            ),
            _ => format!("the credentials given for it ({:?}) were refused", self.creds),
        };
        RegistryError::Denied { registry: self.registry.clone(), what: what.into(), status, hint }
    }

    fn mismatch(&self, what: &str, expected: &str, actual: &str) -> RegistryError {
        RegistryError::DigestMismatch {
            registry: self.registry.clone(),
            what: what.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    fn bad(&self, what: &str, reason: String) -> RegistryError {
        RegistryError::Bad { registry: self.registry.clone(), what: what.into(), reason }
    }
}

/// `http` for loopback registries and those in `BATON_REGISTRY_PLAIN_HTTP`, else `https`.
pub fn scheme(registry: &str) -> &'static str {
    if plain_http_allowed(registry) { "http" } else { "https" }
}

fn plain_http_allowed(registry: &str) -> bool {
    is_loopback_host(registry)
        || std::env::var(ENV_PLAIN_HTTP).is_ok_and(|v| v.split(',').any(|r| r.trim() == registry))
}

/// The registry's error text (`{"errors":[{"message":…}]}`), shortened.
fn error_text(mut resp: Response<ureq::Body>) -> String {
    let body = resp.body_mut().with_config().limit(64 << 10).read_to_vec().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match json["errors"][0]["message"].as_str() {
        Some(m) => format!(": {}", m.chars().take(200).collect::<String>()),
        None => String::new(),
    }
}

/// `realm="…",service="…"` as pairs.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            },
            None => match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            },
        };
        out.push((key, value.to_string()));
        rest = next.trim_start_matches(',').trim();
    }
    out
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
