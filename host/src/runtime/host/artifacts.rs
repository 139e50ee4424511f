//! `baton:stage/artifacts`: publish from and fetch into the workspace
//! through the content-addressed store; lookups go to the scheduler, which
//! knows who publishes what and makes a `get` wait for a pending producer.

use super::{plain_reference, shown};
use crate::executor::{self, Request};
use crate::runtime::bindings::ArtifactTrap;
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

fn gone() -> ArtifactError {
    ArtifactError::Io("the run is ending".into())
}

impl From<executor::ArtifactError> for ArtifactError {
    /// The scheduler's answer as the WIT variant of the same name.
    fn from(e: executor::ArtifactError) -> Self {
        match e {
            executor::ArtifactError::NotFound(m) => ArtifactError::NotFound(m),
            executor::ArtifactError::NeverPublished(m) => ArtifactError::NeverPublished(m),
            executor::ArtifactError::Denied(m) => ArtifactError::Denied(m),
            executor::ArtifactError::Limit(m) => ArtifactError::Limit(m),
        }
    }
}

fn task_failed(e: tokio::task::JoinError) -> ArtifactError {
    ArtifactError::Io(format!("store task failed: {e}"))
}

impl Host for StepState {
    async fn put(&mut self, name: String, path: String) -> Result<Artifact, ArtifactTrap> {
        if !valid_name(&name) {
            return Err(ArtifactError::InvalidName(format!(
                "`{}` (use letters, digits, `.`, `_` and `-`, not starting with `.`)",
                shown(&name)
            ))
            .into());
        }
        let ctx = self.ctx.clone();
        // A timeout or a cancellation drops this future: the guard then
        // stops the blocking copy too, which removes its partial blob.
        let job = Job::new(ctx.policy.artifact_limit);
        let _stop = job.cancel.on_drop();
        let (digest, size, kind) = tokio::task::spawn_blocking(move || ctx.run.store.put(&ctx.workspace, &path, &job))
            .await
            .map_err(task_failed)?
            .map_err(store_error)?;
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
        answer.ok_or_else(gone)?.map_err(ArtifactError::from)?;
        Ok(to_wit(&record))
    }

    async fn get(&mut self, reference: String, dest: String) -> Result<Artifact, ArtifactTrap> {
        if !plain_reference(&reference) {
            return Err(ArtifactError::InvalidName(format!(
                "`{}` (use `name` or `board.step/name`, made of letters, digits, `.`, `_` and `-`)",
                shown(&reference)
            ))
            .into());
        }
        let found = self.ctx.reporter.ask(|reply| Request::Lookup { reference, reply }).await.ok_or_else(gone)?;
        if let Err(executor::ArtifactError::Denied(_)) = &found {
            // The next attempt would be denied the same: no retry.
            self.ctx.denied.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let record = found.map_err(ArtifactError::from)?;
        let ctx = self.ctx.clone();
        let rec = record.clone();
        let job = Job::unbounded();
        let _stop = job.cancel.on_drop();
        tokio::task::spawn_blocking(move || ctx.run.store.get(&rec, &ctx.workspace, &dest, &job))
            .await
            .map_err(task_failed)?
            .map_err(store_error)?;
        self.ctx.log.line("baton", &format!("fetched {} ({})", record.reference, record.digest));
        Ok(to_wit(&record))
    }

    async fn list(&mut self) -> Result<Vec<Artifact>, ArtifactTrap> {
        let records = self.ctx.reporter.ask(|reply| Request::List { reply }).await.ok_or_else(gone)?;
        Ok(records.iter().map(to_wit).collect())
    }

    fn convert_artifact_error(&mut self, err: ArtifactTrap) -> wasmtime::Result<ArtifactError> {
        err.downcast()
    }
}
