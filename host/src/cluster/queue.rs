//! The work queue of attempts: a JetStream stream with work-queue retention
//! that the coordinator publishes [`AttemptMsg`]s to, on the subject of the
//! worker it placed the attempt's board on (`baton.attempts.<worker>`); each
//! worker pulls its subject through a durable consumer of its own name, so
//! that each message goes to one consumer at a time.
//!
//! A delivery is a *lease*, not ownership: a worker that neither acks nor
//! reports progress within the ack wait gets its message redelivered to
//! another worker. Who may run and commit an attempt is decided by
//! [`super::attempts`] (claim and compare-and-set); the ack only removes
//! the message. A message is never dropped after some number of deliveries
//! (`max_deliver` unlimited: a capped one stays in the stream unseen).

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, message::PublishMessage};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::ClusterError;

pub const STREAM: &str = "BATON_ATTEMPTS";
const SUBJECTS: &str = "baton.attempts.>";

/// One attempt to run, as it travels to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptMsg {
    /// The attempt's key in [`super::attempts`] (also the message id: the
    /// same attempt published twice is one message).
    pub key: String,
    pub run: String,
    /// Index of the step in the plan.
    pub step: usize,
    pub attempt: u32,
    pub board: String,
    /// The plugin's bytes in [`super::blobs`].
    pub plugin: String,
    /// The pipeline file's text in [`super::blobs`] (the worker loads the
    /// same plan, so that step indexes agree).
    pub plan: String,
    /// The run whose board workspaces the attempt uses: this one, or the
    /// run it resumes.
    pub workspace: String,
    /// The project's tree in [`super::blobs`], offered at `/src` (see
    /// [`super::source`]); `None` when it could not be packed.
    #[serde(default)]
    pub src: Option<String>,
}

/// The queue, from either side.
#[derive(Clone)]
pub struct Queue {
    js: jetstream::Context,
}

/// A message handed to this worker; it must [`Delivery::progress`] within
/// the ack wait while it runs the attempt, then [`Delivery::done`].
pub struct Delivery {
    pub msg: AttemptMsg,
    /// 1 for the first delivery.
    pub delivered: i64,
    inner: jetstream::Message,
}

impl Queue {
    /// Creates the stream if it does not exist.
    pub async fn set_up(js: jetstream::Context) -> Result<Self, ClusterError> {
        js.get_or_create_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECTS.into()],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::Setup { what: "attempts stream".into(), message: e.to_string() })?;
        Ok(Self { js })
    }

    /// Publishes an attempt; `false` if the server had it already (a
    /// duplicate within two minutes is dropped).
    pub async fn submit(&self, msg: &AttemptMsg, worker: &str) -> Result<bool, ClusterError> {
        let payload = serde_json::to_vec(msg).expect("attempt messages serialize");
        let publish = PublishMessage::build().payload(payload.into()).message_id(&msg.key);
        let subject = format!("baton.attempts.{worker}");
        let ack = self.js.send_publish(subject, publish).await.map_err(|e| ClusterError::io("submit", e))?;
        let ack = ack.await.map_err(|e| ClusterError::io("submit", e))?;
        Ok(!ack.duplicate)
    }

    /// The consumer of `worker`'s subject; a delivery not acked or
    /// progressed within `ack_wait` is delivered again (to whoever pulls
    /// from that consumer).
    pub async fn consumer(&self, worker: &str, ack_wait: Duration) -> Result<Consumer, ClusterError> {
        super::workers::check_name(worker)?;
        let name = format!("w_{worker}");
        let stream = self.js.get_stream(STREAM).await.map_err(|e| ClusterError::io("attempts stream", e))?;
        let consumer = stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: format!("baton.attempts.{worker}"),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ClusterError::io("attempts consumer", e))?;
        Ok(Consumer { inner: consumer })
    }
}

/// A worker's side of the queue.
pub struct Consumer {
    inner: jetstream::consumer::Consumer<pull::Config>,
}

impl Consumer {
    /// The next attempt, or `None` when none came within `wait`. A message
    /// that is not an attempt is terminated (never redelivered) and skipped.
    pub async fn next(&self, wait: Duration) -> Result<Option<Delivery>, ClusterError> {
        let mut batch = self
            .inner
            .fetch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| ClusterError::io("fetch of an attempt", e))?;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| ClusterError::io("fetch of an attempt", e))?;
            let delivered = m.info().map(|i| i.delivered).unwrap_or(1);
            match serde_json::from_slice::<AttemptMsg>(&m.payload) {
                Ok(msg) => return Ok(Some(Delivery { msg, delivered, inner: m })),
                Err(_) => {
                    let _ = m.ack_with(AckKind::Term).await;
                }
            }
        }
        Ok(None)
    }
}

impl Delivery {
    /// Extends the lease by another ack wait.
    pub async fn progress(&self) -> Result<(), ClusterError> {
        self.inner.ack_with(AckKind::Progress).await.map_err(|e| ClusterError::io("progress ack", e))
    }

    /// Removes the message (the attempt ended, or is not this worker's).
    pub async fn done(&self) -> Result<(), ClusterError> {
        self.inner.double_ack().await.map_err(|e| ClusterError::io("ack", e))
    }
}
