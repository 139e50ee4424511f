//! `cluster`: one pipeline on many machines, through NATS JetStream (see
//! DESIGN.md, "Beyond one machine").
//!
//! # Design
//!
//! The `baton run` process (the coordinator) keeps the scheduler, journal and
//! reports; `baton worker` processes run attempts. They share no protocol of
//! baton's own, only JetStream's stores, set up here by [`Cluster::connect`]:
//! - [`blobs`]: the object store, for artifacts and plugin bytes, named by
//!   their sha256 and verified against it on every read (the server's own
//!   digest is not trusted: whoever can write the bucket could write both).
//! - [`queue`]: the work queue of attempts (a work-queue stream pulled by
//!   every worker through one consumer: a delivery is a lease, renewed by
//!   progress acks, redelivered elsewhere when it lapses).
//! - [`attempts`]: a key-value bucket holding who owns each attempt. A worker
//!   takes an attempt with a create (only one can), and its result counts
//!   only through a compare-and-set on the revision it took: an attempt the
//!   coordinator declared lost has a newer revision, so the stale worker's
//!   late commit is refused. The work queue's ack decides nothing (the
//!   server accepts late acks).
//! - [`signals`]: a key-value bucket of raised signals, one key per run and
//!   name, visible to waits on every machine. Runs do not use it yet: their
//!   signals and waits go through the coordinator's scheduler, which also
//!   detects deadlocks for the whole cluster.
//! - [`workers`]: a key-value bucket of worker heartbeats (name, labels,
//!   jobs, running steps); a worker whose last beat is older than
//!   [`workers::LIVE_WINDOW`] counts as lost.
//!
//! On top of these:
//! - [`remote`]: the coordinator's `RemoteExecutor` (the scheduler's
//!   executor for `baton run --nats`): places each board on one live
//!   worker (labels: `runs_on`, see `place`), queues attempts, and turns
//!   what workers say (`listen`, over the subjects of [`wire`]) into the
//!   attempts' reports;
//!   `recover` moves the boards of a lost worker and replays them;
//! - [`serve`]: `baton worker`: pulls its attempts, claims them, runs them
//!   with the local executor (plugins fetched, verified and compiled once
//!   per digest) and sends their events; `relay` carries their requests,
//!   asking again while no coordinator answers;
//! - [`live_log`]: a worker step's log lines reach the run's step log as
//!   they are written (`baton logs -f`), the whole log with the step's end;
//! - `secrets`: a step's secrets go from the coordinator to the worker that
//!   claimed its attempt over core NATS request-reply, never into JetStream,
//!   sealed to a key made for the claim;
//! - [`identity`] and `pinning`: each worker signs what it reports with a
//!   key announced in its heartbeat and pinned by the coordinator for the
//!   run; the coordinator believes no end, event or ask it cannot verify
//!   (the server's buckets and subjects are writable by whoever the server
//!   lets in, so a name proves nothing);
//! - [`source`]: the project's tree, packed by the coordinator into the
//!   object store and unpacked once per digest by workers, at `/src`;
//! - `reattach`: a coordinator that resumes a killed one takes over the
//!   attempts it left running (their asks and ends), instead of running
//!   them again.
//!
//! The server must be 2.10 or later (the client's key-value API fails on
//! older ones); `./setup.sh --deps` installs one for the tests.

pub mod attempts;
pub mod blobs;
pub mod connect;
pub mod identity;
mod listen;
pub mod live_log;
mod pinning;
mod place;
pub mod queue;
mod reattach;
mod recover;
mod relay;
pub mod remote;
mod secrets;
pub mod serve;
pub mod signals;
mod slots;
pub mod source;
pub mod wire;
pub mod workers;

use std::time::Duration;

use async_nats::jetstream;

/// Why talking to the cluster failed. Every message names the server or
/// the object and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "cannot reach the NATS server at {url}: {message} (start one with `nats-server -js`, or check --nats / BATON_NATS)"
    )]
    Connect { url: String, message: String },
    #[error(
        "cannot set up the JetStream {what} on the NATS server: {message} (the server must run with JetStream, `nats-server -js`, version 2.10 or later)"
    )]
    Setup { what: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("NATS {what} failed: {message}")]
    Io { what: String, message: String },
}

impl ClusterError {
    pub(crate) fn io(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Io { what: what.into(), message: e.to_string() }
    }
}

/// Bucket names (one set per server: every run and worker shares them).
pub const BLOBS_BUCKET: &str = "baton_blobs";
pub const ATTEMPTS_BUCKET: &str = "baton_attempts";
pub const SIGNALS_BUCKET: &str = "baton_signals";
pub const WORKERS_BUCKET: &str = "baton_workers";

/// A connection to the cluster's server with its stores set up.
#[derive(Clone)]
pub struct Cluster {
    pub client: async_nats::Client,
    pub queue: queue::Queue,
    pub blobs: blobs::Blobs,
    pub attempts: attempts::Attempts,
    pub signals: signals::Signals,
    pub workers: workers::Workers,
    /// What the connection learned about the server (see [`connect`]).
    pub security: connect::Security,
    /// The server's URL without its password.
    pub url: String,
}

impl Cluster {
    /// Connects to `url` (`nats://host:port`, `tls://...`; see [`connect`]
    /// for credentials and what is refused) and creates the stores that do
    /// not exist yet (creating is idempotent: the first process makes them).
    pub async fn connect(url: &str) -> Result<Self, ClusterError> {
        let (client, security) = connect::connect(url).await?;
        let js = jetstream::new(client.clone());
        let setup =
            |what: &str, e: &dyn std::fmt::Display| ClusterError::Setup { what: what.into(), message: e.to_string() };
        let store = js
            .create_object_store(jetstream::object_store::Config {
                bucket: BLOBS_BUCKET.into(),
                description: Some("baton artifacts and plugins, named by sha256".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| setup("object store", &e))?;
        let kv = |bucket: &str, history: i64, max_age: Duration| jetstream::kv::Config {
            bucket: bucket.into(),
            history,
            max_age,
            ..Default::default()
        };
        let attempts = js
            .create_key_value(kv(ATTEMPTS_BUCKET, 1, Duration::ZERO))
            .await
            .map_err(|e| setup("attempts bucket", &e))?;
        let signals = js
            .create_key_value(kv(SIGNALS_BUCKET, 1, Duration::ZERO))
            .await
            .map_err(|e| setup("signals bucket", &e))?;
        // A worker gone without a word disappears from the bucket after a minute.
        let workers = js
            .create_key_value(kv(WORKERS_BUCKET, 1, Duration::from_secs(60)))
            .await
            .map_err(|e| setup("workers bucket", &e))?;
        let queue = queue::Queue::set_up(js).await?;
        Ok(Self {
            client,
            queue,
            blobs: blobs::Blobs::new(store),
            attempts: attempts::Attempts::new(attempts),
            signals: signals::Signals::new(signals),
            workers: workers::Workers::new(workers),
            security,
            url: connect::shown_url(url),
        })
    }
}

/// Whether `s` can be one dot-separated token of a key-value key (letters,
/// digits, `-`, `_`, `=`; not empty).
pub(crate) fn is_key_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tokens_are_letters_digits_dash_underscore() {
        assert!(is_key_token("worker-1_a"));
        assert!(!is_key_token(""));
        assert!(!is_key_token("a.b"));
        assert!(!is_key_token("a b"));
        assert!(!is_key_token("a*"));
        assert!(!is_key_token("a>"));
    }
}
