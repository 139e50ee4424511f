//! `baton serve [FILE] [--addr 127.0.0.1:8090] [--token TOKEN]`: the live
//! web view of the project's runs (see `serve`), until interrupted. Also
//! what `baton run --serve` starts next to its run.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::Locate;
use crate::serve;

pub const DEFAULT_ADDR: &str = "127.0.0.1:8090";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The pipeline file (its directory holds `.baton/`).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Where to listen. Any address but loopback needs --token.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Require this token (at least 16 characters; default: $BATON_SERVE_TOKEN) on every
    /// request, as `Authorization: Bearer TOKEN` or the cookie the printed one-time login URL sets.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// A bound server, ready to run.
pub struct Bound {
    pub listener: tokio::net::TcpListener,
    pub router: axum::Router,
    /// The URL to print (with the one-time login path when a token is needed).
    pub base: String,
    pub login: Option<String>,
}

/// `--token`, else `$BATON_SERVE_TOKEN` (empty: none).
pub fn token(arg: Option<String>) -> Option<String> {
    arg.or_else(|| std::env::var(crate::env_vars::SERVE_TOKEN).ok()).filter(|t| !t.is_empty())
}

/// Checks the address and binds it (within a tokio runtime).
pub async fn bind(state_dir: PathBuf, addr: SocketAddr, token: Option<String>) -> anyhow::Result<Bound> {
    serve::check_addr(&addr, token.as_deref()).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (pick another with --addr)"))?;
    let local = listener.local_addr()?;
    let (router, app) = serve::app(serve::Config { state_dir, token }, local);
    let base = format!("http://{local}");
    let login = serve::login_path(&app).map(|p| format!("{base}{p}"));
    Ok(Bound { listener, router, base, login })
}

pub fn main(args: ServeArgs, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(args.file.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let bound = match bind(state.clone(), args.addr, token(args.token)).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(2);
            }
        };
        eprintln!("baton: serving the runs under {} at {}/", state.display(), bound.base);
        if let Some(login) = &bound.login {
            eprintln!("baton: open {login} to log in (the link works once)");
        }
        tokio::select! {
            r = serve::serve(bound.listener, bound.router) => r.map(|()| 0).map_err(Into::into),
            _ = tokio::signal::ctrl_c() => Ok(0),
        }
    })
}
