//! The routes, all GET: `/` (runs, `?page=N`), `/runs/{id}` (a run),
//! `/runs/{id}/log?step=…` (a step's log page), `/runs/{id}/raw?step=…`
//! (the log file as text), `/runs/{id}/artifact?ref=…` (a download),
//! `/runs/{id}/events` (the page's event stream, `?step=…` for a log page),
//! `/api/runs/{id}` (the run's `report.json`), and the two assets. A run id
//! must be one of the project's runs exactly; steps and artifacts must be
//! the run's own.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::files::{self, ArtifactRefusal};
use super::junit;
use super::model::RunView;
use super::stream::{self, Position};
use super::{App, pages};
use crate::storage::artifacts::{ArtifactRecord, ArtifactStore, Kind};
use crate::storage::run_info;
use crate::storage::runs::{self, RunDir};

type Q = Query<HashMap<String, String>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/log", get(log_page))
        .route("/runs/{id}/raw", get(raw_log))
        .route("/runs/{id}/artifact", get(artifact))
        .route("/runs/{id}/events", get(events))
        .route("/api/runs/{id}", get(report_json))
        .route(
            "/assets/page.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], super::ASSET_CSS) }),
        )
        .route(
            "/assets/serve.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], super::ASSET_JS) }),
        )
        .fallback(|| async { not_found("no such page") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), super::auth::check))
        .with_state(app)
}

/// A refusal, boxed: a response is big to carry in every `Result`.
type Refused = Box<Response>;

fn not_found(why: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(pages::message("not found", why))).into_response()
}

fn error(why: &str) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, Html(pages::message("error", why))).into_response()
}

/// The run called exactly `id` (never a path built from it).
fn find(app: &App, id: &str) -> Result<RunDir, Refused> {
    runs::list(&app.state_dir).into_iter().find(|r| r.id == id).ok_or_else(|| Box::new(not_found("no such run")))
}

fn view(run: &RunDir) -> Result<RunView, Refused> {
    RunView::load(run).map_err(|e| Box::new(error(&format!("cannot read the journal of run {}: {e}", run.id))))
}

/// The step `step` if the run knows it (a step of its list, or one with a log).
fn known_step(run: &RunDir, v: &RunView, q: &HashMap<String, String>) -> Result<String, Refused> {
    let Some(step) = q.get("step") else {
        return Err(Box::new(not_found("which step? add ?step=BOARD.STEP")));
    };
    if v.step(step).is_some() || files::log_path(run, step).is_some() {
        Ok(step.clone())
    } else {
        Err(Box::new(not_found("this run has no such step")))
    }
}

async fn index(State(app): State<Arc<App>>, q: Q) -> Response {
    let all = runs::list(&app.state_dir);
    let pages_n = all.len().div_ceil(pages::PER_PAGE);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0).min(pages_n.saturating_sub(1));
    let infos: Vec<_> = all
        .iter()
        .rev()
        .skip(page * pages::PER_PAGE)
        .take(pages::PER_PAGE)
        .filter_map(|r| {
            let info = run_info::read(r).ok()?;
            let report: Option<serde_json::Value> =
                std::fs::read(r.report()).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let where_ = match report {
                None => "-",
                Some(rep) => {
                    let cluster = rep["steps"].as_array().is_some_and(|steps| {
                        steps.iter().any(|s| {
                            s["attempts"].as_array().is_some_and(|a| a.iter().any(|a| a["worker"].is_string()))
                        })
                    });
                    if cluster { "cluster" } else { "local" }
                }
            };
            Some((info, where_))
        })
        .collect();
    Html(pages::runs(&infos, page, pages_n)).into_response()
}

async fn run_page(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let run = match find(&app, &id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let v = match view(&run) {
        Ok(v) => v,
        Err(e) => return *e,
    };
    let tails: Vec<(String, Vec<String>)> = v
        .steps
        .iter()
        .filter(|s| s.error.is_some())
        .map(|s| (s.id.clone(), files::failure_tail(&run, &s.id, pages::FAILURE_TAIL)))
        .collect();
    let store = ArtifactStore::new(app.state_dir.join("store"));
    let records = v.artifacts.clone();
    let tests = tokio::task::spawn_blocking(move || test_results(&store, &records)).await.unwrap_or_default();
    Html(pages::run(&v, &tails, &tests)).into_response()
}

/// The JUnit files among the run's file artifacts (`.xml`, holding test
/// cases), read with their digest checked.
fn test_results(store: &ArtifactStore, records: &[ArtifactRecord]) -> Vec<(String, Vec<junit::Case>)> {
    let mut out = Vec::new();
    for r in records {
        if r.kind != Kind::File || !r.name.ends_with(".xml") || r.size > junit::MAX_BYTES {
            continue;
        }
        let mut bytes = Vec::new();
        if store.copy_verified(&r.digest, &mut bytes).is_err() {
            continue;
        }
        let cases = junit::cases(&String::from_utf8_lossy(&bytes));
        if !cases.is_empty() {
            out.push((r.reference.clone(), cases));
        }
    }
    out
}

async fn log_page(State(app): State<Arc<App>>, Path(id): Path<String>, q: Q) -> Response {
    let run = match find(&app, &id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let v = match view(&run) {
        Ok(v) => v,
        Err(e) => return *e,
    };
    let step = match known_step(&run, &v, &q) {
        Ok(s) => s,
        Err(e) => return *e,
    };
    let path = files::log_path(&run, &step);
    let (lines, cut, offset) = files::log_tail(path.as_ref(), files::LOG_LINES);
    Html(pages::log(&v, &step, &lines, cut, offset)).into_response()
}

async fn raw_log(State(app): State<Arc<App>>, Path(id): Path<String>, q: Q) -> Response {
    let run = match find(&app, &id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let Some(step) = q.get("step") else {
        return not_found("which step? add ?step=BOARD.STEP");
    };
    let Some(path) = files::log_path(&run, step) else {
        return not_found("this step wrote no log (yet)");
    };
    match std::fs::read(&path) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response(),
        Err(e) => error(&format!("cannot read the log: {e}")),
    }
}

async fn artifact(State(app): State<Arc<App>>, Path(id): Path<String>, q: Q) -> Response {
    let run = match find(&app, &id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let v = match view(&run) {
        Ok(v) => v,
        Err(e) => return *e,
    };
    let Some(reference) = q.get("ref") else {
        return not_found("which artifact? add ?ref=BOARD.STEP/NAME");
    };
    let store = ArtifactStore::new(app.state_dir.join("store"));
    let records = v.artifacts.clone();
    let reference = reference.clone();
    let got = tokio::task::spawn_blocking(move || files::artifact(&store, &records, &reference)).await;
    match got {
        Ok(Ok((bytes, name))) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                // Artifact names are letters, digits, `.`, `_` and `-` (checked at publication).
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", safe_filename(&name))),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(ArtifactRefusal::Unknown)) => not_found("this run has no such artifact"),
        Ok(Err(ArtifactRefusal::Store(e))) => error(&format!("cannot serve this artifact: {e}")),
        Err(_) => error("reading the artifact failed"),
    }
}

/// A file name safe in a quoted header parameter whatever it held.
fn safe_filename(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') { format!("artifact{s}") } else { s }
}

async fn events(State(app): State<Arc<App>>, Path(id): Path<String>, q: Q, headers: HeaderMap) -> Response {
    let run = match find(&app, &id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let step = match q.get("step") {
        None => None,
        Some(_) => {
            let v = match view(&run) {
                Ok(v) => v,
                Err(e) => return *e,
            };
            match known_step(&run, &v, &q) {
                Ok(s) => {
                    let path = files::log_path(&run, &s);
                    Some((s, path))
                }
                Err(e) => return *e,
            }
        }
    };
    let from = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(Position::parse)
        .or_else(|| q.get("from").and_then(|f| Position::parse(f)));
    stream::sse(run, step, from).into_response()
}

async fn report_json(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let run = match find(&app, &id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    match std::fs::read(run.report()) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => not_found("this run has no report yet (it is written when the run ends)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_inert() {
        assert_eq!(safe_filename("out.tar"), "out.tar");
        assert_eq!(safe_filename("a\"b\r\nc"), "a_b__c");
        assert_eq!(safe_filename(".hidden"), "artifact.hidden");
    }
}
