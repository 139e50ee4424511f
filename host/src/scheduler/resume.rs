//! `--resume`: what the last run of the pipeline already did. A step counts
//! as previously done if it succeeded there with the same definition
//! (fingerprint) and the same plugin bytes; its artifacts and signals carry
//! over to the new run.

use std::collections::{HashMap, HashSet};

use crate::plan::Plan;
use crate::storage::artifacts::ArtifactRecord;
use crate::storage::journal::{self, Record};
use crate::storage::runs::RunDir;

/// What a new run takes over from an earlier one.
#[derive(Debug, Default)]
pub struct Carried {
    /// Steps not to run again.
    pub done: HashSet<usize>,
    pub artifacts: Vec<(String, ArtifactRecord)>,
    pub signals: Vec<(usize, String)>,
}

/// Reads `previous`'s journal; `digests` is the current plugin digest per
/// step. `elsewhere` names what the journal may not know: steps that passed
/// on cluster workers after it was last written (`done`, carried too), and
/// steps still running there, taken over (`running`: what they published
/// and raised is carried, but they are not done).
pub fn previously_done(
    plan: &Plan,
    previous: &RunDir,
    digests: &[Option<String>],
    elsewhere: (&[usize], &[usize]),
) -> std::io::Result<Carried> {
    let records = journal::read(&previous.journal())?;
    let mut ok: HashMap<&str, (Option<&str>, Option<&str>)> = HashMap::new();
    let mut artifacts: Vec<&ArtifactRecord> = Vec::new();
    let mut signals: Vec<(&str, &str)> = Vec::new();
    for r in &records {
        match r {
            Record::Finish { step, status, fingerprint, plugin, .. } if status.passed() => {
                ok.insert(step, (fingerprint.as_deref(), plugin.as_deref()));
            }
            Record::Finish { step, .. } => {
                ok.remove(step.as_str());
            }
            Record::Artifact { record } => artifacts.push(record),
            Record::Signal { step, name } => signals.push((step, name)),
            _ => {}
        }
    }
    let mut carried = Carried::default();
    for (i, s) in plan.steps.iter().enumerate() {
        if let Some((Some(fp), plugin)) = ok.get(s.id.as_str())
            && *fp == s.fingerprint
            && plugin.map(str::to_string) == digests[i]
        {
            carried.done.insert(i);
        }
    }
    let (done, running) = elsewhere;
    carried.done.extend(done.iter().copied());
    let keeps = |i: &usize| carried.done.contains(i) || running.contains(i);
    let mut seen = HashSet::new();
    for r in artifacts.into_iter().rev() {
        if let Some(i) = plan.step_index(&r.step)
            && keeps(&i)
            && seen.insert(r.reference.clone())
        {
            carried.artifacts.push((r.reference.clone(), r.clone()));
        }
    }
    carried.artifacts.reverse();
    for (step, name) in signals {
        if let Some(i) = plan.step_index(step)
            && keeps(&i)
        {
            carried.signals.push((i, name.to_string()));
        }
    }
    Ok(carried)
}
