//! `serve`: the live web view of a project's runs (`baton serve`, `baton
//! run --serve`). Read-only: every route is a GET (HEAD comes with it) and
//! reads what runs leave under `.baton/` (the journal, logs, `report.json`,
//! the artifact store); nothing it serves can change a run.
//!
//! Pages are rendered on the server ([`pages`]) and readable without
//! script; one small script ([`ASSET_JS`], served from the binary, no
//! inline script anywhere, so the Content-Security-Policy can forbid it)
//! keeps a page current from its one event stream ([`stream`]).
//!
//! Who may look: the server binds to loopback by default and then only
//! answers requests addressed to a loopback name (a page on another site
//! cannot reach it through DNS rebinding). Any other address needs a token
//! ([`auth`]): a bearer token, or the cookie a one-time login URL sets.

pub mod auth;
pub mod files;
pub mod junit;
pub mod model;
pub mod pages;
pub mod routes;
pub mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The stylesheet: the HTML report's, then the live view's own rules.
pub const ASSET_CSS: &str = concat!(include_str!("../report/html/page.css"), include_str!("serve.css"));
/// The one script.
pub const ASSET_JS: &str = include_str!("serve.js");

/// No inline script or style, nothing from elsewhere, no framing, no forms.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the server needs.
pub struct Config {
    /// The project's `.baton/` directory.
    pub state_dir: PathBuf,
    /// Required on every request when set (see [`auth`]).
    pub token: Option<String>,
}

/// Shared by the handlers.
pub struct App {
    pub state_dir: PathBuf,
    pub auth: auth::Auth,
}

/// Checks an address and token pair before anything binds: a non-loopback
/// address without a token is refused.
pub fn check_addr(addr: &SocketAddr, token: Option<&str>) -> Result<(), String> {
    if let Some(t) = token
        && t.len() < 16
    {
        return Err("--token must be at least 16 characters (e.g. `openssl rand -hex 16`)".into());
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to serve runs on {addr}: it is not a loopback address, so anyone who can reach it could read \
             every log and artifact; pass --token TOKEN (at least 16 characters) or use 127.0.0.1"
        ));
    }
    Ok(())
}

/// The login URL path when a token is required (`/login?code=…`, usable once).
pub fn login_path(app: &App) -> Option<String> {
    app.auth.login_code().map(|c| format!("/login?code={c}"))
}

/// The application, with its security headers.
pub fn app(config: Config, addr: SocketAddr) -> (axum::Router, Arc<App>) {
    let loopback_only = addr.ip().is_loopback();
    let app = Arc::new(App { state_dir: config.state_dir, auth: auth::Auth::new(config.token, loopback_only) });
    let router = routes::router(app.clone())
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(tower_http::compression::CompressionLayer::new());
    (router, app)
}

/// Serves until the listener fails (or the task is dropped).
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
