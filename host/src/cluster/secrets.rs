//! A step's `secrets` on a worker. They never enter JetStream (its streams
//! and buckets persist on the server's disk): once a worker has claimed an
//! attempt, it asks the coordinator for that step's secrets over core NATS
//! request-reply (`baton.run.<run>.secrets`, see [`super::wire`]); the
//! coordinator answers only for an attempt it waits for whose claim in the
//! attempts bucket is that worker's, and only with the values the step
//! lists. The request is signed by the worker's key (pinned by the
//! coordinator, see [`super::identity`]) and names an X25519 key made for
//! this claim; the values come back sealed to it, so neither a client that
//! asks in a worker's name nor one that reads the traffic learns them.
//! The worker keeps them in memory for the attempt and masks them in
//! everything it prints, commits and sends back, as a local run does. The
//! connection to the server should then be authenticated and encrypted
//! (`tls://`), since the values cross it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::identity::{SealKey, context, seal};
use super::remote::Inner;
use super::serve::{Worker, lock};
use super::wire::secrets_subject;
use crate::text::Secrets;

/// A worker's request for the secrets of the attempt `key` it claimed;
/// `seal_to`: the X25519 public key (hex) made for this claim.
#[derive(Debug, Serialize, Deserialize)]
struct SecretsAsk {
    key: String,
    worker: String,
    seal_to: String,
}

/// The coordinator's answer: the values (a JSON map of name to value)
/// sealed to the claim's key, or why not.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SecretsAnswer {
    Sealed(String),
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
            let answer = match inner.open(&m.payload, context::SECRETS).await {
                Ok((signer, body)) => match serde_json::from_str::<SecretsAsk>(&body) {
                    Ok(ask) if ask.worker == signer => answer(&inner, &ask).await,
                    Ok(_) => SecretsAnswer::Refused("signed in the name of another worker".into()),
                    Err(_) => SecretsAnswer::Refused("unreadable request".into()),
                },
                Err(why) => SecretsAnswer::Refused(why),
            };
            if let SecretsAnswer::Refused(why) = &answer {
                inner.refused(format!("a request for secrets: {why}"));
            }
            let payload = serde_json::to_vec(&answer).expect("answers serialize");
            let _ = inner.cluster.client.publish(reply, payload.into()).await;
        });
    }
}

async fn answer(inner: &Inner, ask: &SecretsAsk) -> SecretsAnswer {
    let step = match inner.reporter(&ask.key) {
        Some((_, step)) => step,
        None => match lock(&inner.replays).get(&ask.key).map(|(step, _, _)| *step) {
            Some(step) => step,
            None if inner.awaits_take_over(&ask.key) => return SecretsAnswer::Later,
            None => return SecretsAnswer::Refused(format!("attempt {} is not one this run waits for", ask.key)),
        },
    };
    // The attempt must run on the signer, and its claim be the signer's.
    match inner.sent_by_its_worker(&ask.key, &ask.worker) {
        Ok(true) => {}
        Ok(false) => return SecretsAnswer::Refused(format!("attempt {} is not one this run waits for", ask.key)),
        Err(why) => return SecretsAnswer::Refused(why),
    }
    match inner.cluster.attempts.owned_by(&ask.key, &ask.worker).await {
        Ok(true) => {}
        Ok(false) => {
            return SecretsAnswer::Refused(format!("attempt {} is not claimed by worker {}", ask.key, ask.worker));
        }
        Err(e) => return SecretsAnswer::Refused(e.to_string()),
    }
    let values: BTreeMap<String, String> = (inner.step_secrets[step].iter())
        .filter_map(|name| inner.secrets.value(name).map(|v| (name.clone(), v.to_string())))
        .collect();
    let plain = serde_json::to_vec(&values).expect("secrets serialize");
    match seal(&ask.seal_to, &plain) {
        Ok(sealed) => SecretsAnswer::Sealed(sealed),
        Err(why) => SecretsAnswer::Refused(why),
    }
}

impl Worker {
    /// The secrets of the attempt `key` (claimed by this worker), asked of
    /// the coordinator of `run` in a request signed by this worker, sealed
    /// to a key pair made for this claim; while none answers, asked again
    /// as long as this worker owns the attempt.
    pub(super) async fn secrets(&self, run: &str, key: &str) -> Result<Secrets, String> {
        let claim_key = SealKey::generate();
        let ask = SecretsAsk { key: key.into(), worker: self.name.clone(), seal_to: claim_key.public_hex() };
        let payload = self.signed(context::SECRETS, &ask);
        let mut pause = Duration::from_millis(100);
        let mut said = false;
        loop {
            let request = async_nats::Request::new().payload(payload.clone()).timeout(Some(Duration::from_secs(10)));
            if let Ok(m) = self.cluster.client.send_request(secrets_subject(run), request).await {
                match serde_json::from_slice(&m.payload) {
                    Ok(SecretsAnswer::Sealed(sealed)) => {
                        let plain = claim_key.unseal(&sealed).map_err(|e| format!("the secrets did not open: {e}"))?;
                        let values: BTreeMap<String, String> = serde_json::from_slice(&plain)
                            .map_err(|_| "the coordinator's secrets are unreadable".to_string())?;
                        return Ok(Secrets::new(values));
                    }
                    Ok(SecretsAnswer::Refused(why)) => {
                        return Err(format!("the coordinator refused the secrets: {}", crate::text::escape_text(&why)));
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
