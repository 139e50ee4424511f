//! A step's `secrets` on a worker. They never enter JetStream (its streams
//! and buckets persist on the server's disk): once a worker has claimed an
//! attempt, it asks the coordinator for that step's secrets over core NATS
//! request-reply (`baton.run.<run>.secrets`, see [`super::wire`]); the
//! coordinator answers only for an attempt it waits for whose claim in the
//! attempts bucket is that worker's, and only with the values the step
//! lists. The worker keeps them in memory for the attempt and masks them in
//! everything it prints, commits and sends back, as a local run does. The
//! connection to the server should then be authenticated and encrypted
//! (`tls://`), since the values cross it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::remote::Inner;
use super::serve::{Worker, lock};
use super::wire::secrets_subject;
use crate::text::Secrets;

/// A worker's request for the secrets of the attempt `key` it claimed.
#[derive(Debug, Serialize, Deserialize)]
struct SecretsAsk {
    key: String,
    worker: String,
}

/// The coordinator's answer: the values by name, or why not.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SecretsAnswer {
    Values(BTreeMap<String, String>),
    Refused(String),
    /// A resumed coordinator that has not taken the attempt over yet.
    Later,
}

/// Answers workers' requests on `sub` (the coordinator's side).
pub(super) async fn serve(inner: Arc<Inner>, mut sub: async_nats::Subscriber) {
    while let Some(m) = sub.next().await {
        let Some(reply) = m.reply.clone() else { continue };
        let inner = inner.clone();
        tokio::spawn(async move {
            let answer = match serde_json::from_slice::<SecretsAsk>(&m.payload) {
                Ok(ask) => answer(&inner, &ask).await,
                Err(_) => SecretsAnswer::Refused("unreadable request".into()),
            };
            let payload = serde_json::to_vec(&answer).expect("answers serialize");
            let _ = inner.cluster.client.publish(reply, payload.into()).await;
        });
    }
}

async fn answer(inner: &Inner, ask: &SecretsAsk) -> SecretsAnswer {
    let step = match inner.reporter(&ask.key) {
        Some((_, step)) => step,
        None => match lock(&inner.replays).get(&ask.key).map(|(step, _)| *step) {
            Some(step) => step,
            None if inner.awaits_take_over(&ask.key) => return SecretsAnswer::Later,
            None => return SecretsAnswer::Refused(format!("attempt {} is not one this run waits for", ask.key)),
        },
    };
    // The claim in the bucket, not the requester's word, says whose it is.
    match inner.cluster.attempts.owned_by(&ask.key, &ask.worker).await {
        Ok(true) => {}
        Ok(false) => {
            return SecretsAnswer::Refused(format!("attempt {} is not claimed by worker {}", ask.key, ask.worker));
        }
        Err(e) => return SecretsAnswer::Refused(e.to_string()),
    }
    let values = (inner.step_secrets[step].iter())
        .filter_map(|name| inner.secrets.value(name).map(|v| (name.clone(), v.to_string())))
        .collect();
    SecretsAnswer::Values(values)
}

impl Worker {
    /// The secrets of the attempt `key` (claimed by this worker), asked of
    /// the coordinator of `run`; while none answers, asked again as long as
    /// this worker owns the attempt.
    pub(super) async fn secrets(&self, run: &str, key: &str) -> Result<Secrets, String> {
        let ask = SecretsAsk { key: key.into(), worker: self.name.clone() };
        let payload: bytes::Bytes = serde_json::to_vec(&ask).expect("asks serialize").into();
        let mut pause = Duration::from_millis(100);
        let mut said = false;
        loop {
            let request = async_nats::Request::new().payload(payload.clone()).timeout(Some(Duration::from_secs(10)));
            if let Ok(m) = self.cluster.client.send_request(secrets_subject(run), request).await {
                match serde_json::from_slice(&m.payload) {
                    Ok(SecretsAnswer::Values(v)) => return Ok(Secrets::new(v)),
                    Ok(SecretsAnswer::Refused(why)) => {
                        return Err(format!("the coordinator refused the secrets: {why}"));
                    }
                    Ok(SecretsAnswer::Later) => {}
                    Err(_) => return Err("the coordinator's answer about secrets is unreadable".into()),
                }
            }
            if let Ok(false) = self.cluster.attempts.owned_by(key, &self.name).await {
                return Err("the attempt is no longer this worker's".into());
            }
            if !said {
                said = true;
                eprintln!("worker {}: {key} waits for the coordinator to send its secrets", self.name);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}
