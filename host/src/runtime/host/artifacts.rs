//! `baton:stage/artifacts`: publish from and fetch into the workspace
//! through the content-addressed store; lookups go to the scheduler, which
//! knows who publishes what and makes a `get` wait for a pending producer.

use super::{plain_reference, shown};
use crate::executor::{self, Request};
use crate::runtime::bindings::baton::stage::artifacts::{Artifact, ArtifactError, ArtifactKind, Host};
use crate::runtime::state::StepState;
use crate::storage::artifacts::{ArtifactRecord, Job, Kind, StoreError, valid_name};

fn to_wit(r: &ArtifactRecord) -> Artifact {
    Artifact {
        reference: r.reference.clone(),
        digest: r.digest.clone(),
        size: r.size,
        kind: match r.kind {
            Kind::File => ArtifactKind::File,
            Kind::Directory => ArtifactKind::Directory,
        },
    }
}

fn store_error(e: StoreError) -> ArtifactError {
    match e {
        StoreError::Path(m) => ArtifactError::InvalidPath(m),
        StoreError::Corrupt { .. } => ArtifactError::Corrupt(e.to_string()),
        StoreError::Limit(m) => ArtifactError::Limit(m),
        StoreError::Cancelled => ArtifactError::Io(e.to_string()),
        StoreError::Io(m) => ArtifactError::Io(m),
    }
}

/// The scheduler's answer as the WIT variant of the same name.
fn to_wit_error(e: executor::ArtifactError) -> ArtifactError {
    match e {
        executor::ArtifactError::NotFound(m) => ArtifactError::NotFound(m),
        executor::ArtifactError::NeverPublished(m) => ArtifactError::NeverPublished(m),
        executor::ArtifactError::Denied(m) => ArtifactError::Denied(m),
        executor::ArtifactError::Limit(m) => ArtifactError::Limit(m),
    }
}

fn gone() -> ArtifactError {
    ArtifactError::Io("the run is ending".into())
}

impl Host for StepState {
    async fn put(&mut self, name: String, path: String) -> wasmtime::Result<Result<Artifact, ArtifactError>> {
        if !valid_name(&name) {
            return Ok(Err(ArtifactError::InvalidName(format!(
                "`{}` (use letters, digits, `.`, `_` and `-`, not starting with `.`)",
                shown(&name)
            ))));
        }
        let ctx = self.ctx.clone();
        // A timeout or a cancellation drops this future: the guard then
        // stops the blocking copy too, which removes its partial blob.
        let job = Job::new(ctx.policy.artifact_limit);
        let _stop = job.cancel.on_drop();
        let stored = tokio::task::spawn_blocking(move || ctx.run.store.put(&ctx.workspace, &path, &job)).await;
        let (digest, size, kind) = match stored {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Ok(Err(store_error(e))),
            Err(e) => return Ok(Err(ArtifactError::Io(format!("store task failed: {e}")))),
        };
        let record = ArtifactRecord {
            reference: format!("{}/{name}", self.ctx.id),
            step: self.ctx.id.clone(),
            name,
            digest,
            size,
            kind,
        };
        self.ctx
            .log
            .line("baton", &format!("published {} ({}, {} bytes)", record.reference, record.digest, record.size));
        let answer = self.ctx.reporter.ask(|reply| Request::Publish { record: record.clone(), reply }).await;
        Ok(match answer {
            Some(Ok(())) => Ok(to_wit(&record)),
            Some(Err(e)) => Err(to_wit_error(e)),
            None => Err(gone()),
        })
    }

    async fn get(&mut self, reference: String, dest: String) -> wasmtime::Result<Result<Artifact, ArtifactError>> {
        if !plain_reference(&reference) {
            return Ok(Err(ArtifactError::InvalidName(format!(
                "`{}` (use `name` or `board.step/name`, made of letters, digits, `.`, `_` and `-`)",
                shown(&reference)
            ))));
        }
        let found = self.ctx.reporter.ask(|reply| Request::Lookup { reference, reply }).await;
        let record = match found {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                if let executor::ArtifactError::Denied(_) = &e {
                    // The next attempt would be denied the same: no retry.
                    self.ctx.denied.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                return Ok(Err(to_wit_error(e)));
            }
            None => return Ok(Err(gone())),
        };
        let ctx = self.ctx.clone();
        let rec = record.clone();
        let job = Job::unbounded();
        let _stop = job.cancel.on_drop();
        let copied = tokio::task::spawn_blocking(move || ctx.run.store.get(&rec, &ctx.workspace, &dest, &job)).await;
        Ok(match copied {
            Ok(Ok(())) => {
                self.ctx.log.line("baton", &format!("fetched {} ({})", record.reference, record.digest));
                Ok(to_wit(&record))
            }
            Ok(Err(e)) => Err(store_error(e)),
            Err(e) => Err(ArtifactError::Io(format!("store task failed: {e}"))),
        })
    }

    async fn list(&mut self) -> wasmtime::Result<Result<Vec<Artifact>, ArtifactError>> {
        let all = self.ctx.reporter.ask(|reply| Request::List { reply }).await;
        Ok(match all {
            Some(records) => Ok(records.iter().map(to_wit).collect()),
            None => Err(gone()),
        })
    }
}
