//! The coordinator's listeners for a run's subjects (see [`super::wire`]):
//! workers' events become the attempts' reports, and stages' asks go to
//! the scheduler through the attempt's reporter, with the answer sent back.
//! What a passing attempt asked is kept for replays ([`super::recover`]).

use std::sync::Arc;

use futures_util::StreamExt;

use super::attempts::AttemptState;
use super::identity::context;
use super::remote::{Inner, fetch_blob, lock};
use super::wire::{Answer, Ask, AskKind, WorkerEvent};
use crate::executor::{ArtifactError, Event, Reporter, Request, SignalError};

pub(super) async fn events(inner: Arc<Inner>, mut events: async_nats::Subscriber) {
    while let Some(m) = events.next().await {
        // Believed only if signed by the pinned key of the attempt's worker.
        let (signer, body) = match inner.open(&m.payload, context::EVENT).await {
            Ok(opened) => opened,
            Err(why) => {
                inner.refused(format!("an event: {why}"));
                continue;
            }
        };
        let Ok(event) = serde_json::from_str::<WorkerEvent>(&body) else { continue };
        let (key, named) = match &event {
            WorkerEvent::Started { key, worker } | WorkerEvent::Ended { key, worker, .. } => (key, Some(worker)),
            WorkerEvent::Progress { key, .. } => (key, None),
        };
        let checked = match named {
            Some(w) if *w != signer => Err(format!("worker {signer} signed an event in the name of another worker")),
            _ => inner.sent_by_its_worker(key, &signer),
        };
        match checked {
            Ok(true) => {}
            Ok(false) => continue,
            Err(why) => {
                inner.refused(format!("an event: {why}"));
                continue;
            }
        }
        match event {
            WorkerEvent::Started { key, worker } => {
                if let Some((r, _)) = inner.reporter(&key) {
                    r.send(Event::RanOn { worker });
                    r.send(Event::Started);
                }
            }
            WorkerEvent::Progress { key, done, total, message } => {
                if let Some((r, _)) = inner.reporter(&key) {
                    r.send(Event::Progress { done, total, message: crate::text::escape_text(&message).into_owned() });
                }
            }
            WorkerEvent::Ended { key, worker, outcome, tail, log } => {
                // Only the end the owner committed (and signed) counts; a
                // forged record is for the reconciliation to refuse.
                let committed = match inner.cluster.attempts.state(&key).await {
                    Ok(Some((state @ AttemptState::Ended { .. }, _))) => {
                        matches!(&state, AttemptState::Ended { worker: w, .. } if *w == worker)
                            && inner.check_end(&key, &state).await.is_ok()
                    }
                    _ => false,
                };
                if !committed {
                    continue;
                }
                if let (Some(digest), Some(step)) = (log, inner.reporter(&key).map(|(_, s)| s)) {
                    inner.keep_log(&key, step, &digest).await;
                }
                inner.finish(&key, &worker, outcome, tail);
            }
        }
    }
}

pub(super) async fn asks(inner: Arc<Inner>, mut asks: async_nats::Subscriber) {
    while let Some(m) = asks.next().await {
        let Some(reply) = m.reply.clone() else { continue };
        let inner = inner.clone();
        tokio::spawn(async move {
            let answer = match inner.open(&m.payload, context::ASK).await {
                Err(why) => refuse(&inner, why),
                Ok((signer, body)) => match serde_json::from_str::<Ask>(&body) {
                    Ok(Ask { ask: AskKind::Ping, .. }) => Answer::Coordinator(inner.run.clone()),
                    Ok(ask) => match inner.sent_by_its_worker(&ask.key, &signer) {
                        Err(why) => refuse(&inner, why),
                        Ok(false) => Answer::Gone,
                        Ok(true) => match inner.reporter(&ask.key) {
                            Some((r, step)) => answer(&inner, &r, step, ask.ask).await,
                            None => match lock(&inner.replays).get(&ask.key).map(|(step, _, _)| *step) {
                                Some(step) => super::recover::answer_replay(&inner, step, ask.ask),
                                None if inner.awaits_take_over(&ask.key) => Answer::Later,
                                None => Answer::Gone,
                            },
                        },
                    },
                    Err(_) => Answer::Gone,
                },
            };
            let payload = serde_json::to_vec(&answer).expect("answers serialize");
            let _ = inner.cluster.client.publish(reply, payload.into()).await;
        });
    }
}

fn refuse(inner: &Inner, why: String) -> Answer {
    inner.refused(format!("an ask: {why}"));
    Answer::Refused(why)
}

async fn answer(inner: &Inner, r: &Reporter, step: usize, ask: AskKind) -> Answer {
    let ending = || SignalError::Failed("the run is ending".into());
    match ask {
        AskKind::Emit { name } => {
            Answer::Signal(r.ask(|reply| Request::Emit { name, reply }).await.unwrap_or_else(|| Err(ending())))
        }
        AskKind::Raised { name } => {
            Answer::Raised(r.ask(|reply| Request::Raised { name, reply }).await.unwrap_or_else(|| Err(ending())))
        }
        AskKind::Wait { names } => {
            Answer::Signal(r.ask(|reply| Request::Wait { names, reply }).await.unwrap_or_else(|| Err(ending())))
        }
        AskKind::Publish { record } => {
            if let Err(e) = fetch_blob(&inner.cluster, &inner.store, &record.digest).await {
                return Answer::Published(Err(ArtifactError::NotFound(format!("{}: {e}", record.reference))));
            }
            let gone = || Err(ArtifactError::NeverPublished("the run is ending".into()));
            let kept = record.clone();
            let answer = r.ask(|reply| Request::Publish { record, reply }).await.unwrap_or_else(gone);
            if answer.is_ok() {
                lock(&inner.asked).entry(step).or_default().published.push(kept);
            }
            Answer::Published(answer)
        }
        AskKind::Lookup { reference } => {
            let gone = || Err(ArtifactError::NeverPublished("the run is ending".into()));
            let asked = reference.clone();
            let answer = r.ask(|reply| Request::Lookup { reference, reply }).await.unwrap_or_else(gone);
            if let Ok(record) = &answer {
                lock(&inner.asked).entry(step).or_default().lookups.push((asked, record.clone()));
            }
            Answer::Record(answer)
        }
        AskKind::Ping => Answer::Coordinator(inner.run.clone()),
        AskKind::List => {
            let records = r.ask(|reply| Request::List { reply }).await.unwrap_or_default();
            lock(&inner.asked).entry(step).or_default().list = records.clone();
            Answer::Records(records)
        }
    }
}
