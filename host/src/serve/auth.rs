//! Who may read: with a token, every request must carry it as
//! `Authorization: Bearer TOKEN` or in the `baton_token` cookie, which the
//! one-time login URL printed at start sets (HttpOnly, SameSite=Strict), so
//! the token never sits in a browser's history. Without a token (loopback
//! only), a request must still be addressed to a loopback name: a page on
//! another site that rebinds its DNS name to 127.0.0.1 is refused.

use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{App, pages};

pub const COOKIE: &str = "baton_token";

pub struct Auth {
    token: Option<String>,
    /// The one-time login code, until used.
    code: Mutex<Option<String>>,
    loopback_only: bool,
}

impl Auth {
    pub fn new(token: Option<String>, loopback_only: bool) -> Auth {
        let code = token.as_ref().map(|_| random_hex(16));
        Auth { token, code: Mutex::new(code), loopback_only }
    }

    pub fn login_code(&self) -> Option<String> {
        self.code.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Uses up the login code if `code` is it.
    fn redeem(&self, code: &str) -> bool {
        let mut slot = self.code.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_deref().is_some_and(|c| same(c.as_bytes(), code.as_bytes())) {
            *slot = None;
            return true;
        }
        false
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return !self.loopback_only || loopback_host(headers);
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| same(t.trim().as_bytes(), token.as_bytes()));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')))
            .any(|t| same(t.as_bytes(), token.as_bytes()));
        bearer || cookie
    }
}

/// Whether the request's Host names a loopback address.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_err() {
        // No /dev/urandom: hash what varies (a login code, not a key).
        use sha2::Digest;
        let seed = format!("{:?}{:?}", std::time::SystemTime::now(), std::thread::current().id());
        buf = sha2::Sha256::digest(seed.as_bytes())[..bytes.min(32)].to_vec();
    }
    hex::encode(buf)
}

/// The middleware: the login route, then the check on everything else.
pub async fn check(State(app): State<std::sync::Arc<App>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/login" && app.auth.token.is_some() {
        let code = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("code="))
            .unwrap_or("")
            .to_string();
        if app.auth.redeem(&code)
            && let Some(token) = &app.auth.token
        {
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
            return (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_string())])
                .into_response();
        }
        return refuse("this login link was already used or is wrong: ask whoever started `baton serve` for the token");
    }
    if !app.auth.allows(req.headers()) {
        let why = if app.auth.token.is_some() {
            "this server needs its token: open the login link `baton serve` printed, or send `Authorization: Bearer TOKEN`"
        } else {
            "this server answers only requests addressed to localhost or a loopback address"
        };
        return refuse(why);
    }
    next.run(req).await
}

fn refuse(why: &str) -> Response {
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], pages::message("not allowed", why))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("value"));
        h
    }

    #[test]
    fn a_token_is_needed_as_bearer_or_cookie() {
        let auth = Auth::new(Some("0123456789abcdef".into()), false);
        assert!(!auth.allows(&HeaderMap::new()));
        assert!(auth.allows(&with(header::AUTHORIZATION, "Bearer 0123456789abcdef")));
        assert!(!auth.allows(&with(header::AUTHORIZATION, "Bearer 0123456789abcdeX")));
        assert!(auth.allows(&with(header::COOKIE, "a=b; baton_token=0123456789abcdef")));
        assert!(!auth.allows(&with(header::COOKIE, "baton_token=0123456789abcde")));
    }

    #[test]
    fn the_login_code_works_once() {
        let auth = Auth::new(Some("0123456789abcdef".into()), false);
        let code = auth.login_code().expect("a code");
        assert!(!auth.redeem("wrong"));
        assert!(auth.redeem(&code));
        assert!(!auth.redeem(&code));
    }

    #[test]
    fn without_a_token_only_loopback_names_are_answered() {
        let auth = Auth::new(None, true);
        for ok in ["127.0.0.1:8090", "localhost:1", "[::1]:80", "LOCALHOST"] {
            assert!(auth.allows(&with(header::HOST, ok)), "{ok}");
        }
        for bad in ["evil.example:8090", "10.0.0.1:80", ""] {
            assert!(!auth.allows(&with(header::HOST, bad)), "{bad}");
        }
        assert!(!auth.allows(&HeaderMap::new()));
    }
}
