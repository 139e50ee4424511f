//! The step cache in the scheduler: a cached step is looked up when it
//! becomes ready (its dependencies have finished, so their outputs are
//! known), and a hit finishes it at once, its artifacts re-published and
//! its outputs restored before any dependent starts. A miss queues it as
//! usual; when it passes, what it left is recorded under its key.
//!
//! The key covers what each dependency left (sync points are looked
//! through): its artifacts and its declared `outputs`. So a change flows
//! downstream exactly as far as outputs change. A cached step that fetches
//! an artifact of any other step is run but not recorded (its key would not
//! cover what it read), and the report says so.

use std::collections::{BTreeMap, HashSet};

use super::Scheduler;
use crate::cache::manifest::DepOutputs;
use crate::cache::session::{Lookup, Recorded, blob_of, record_of};
use crate::report::CachedReport;
use crate::status::StepStatus;
use crate::storage::journal::Record;

/// A cached step's key, while it runs.
#[derive(Debug)]
pub struct StepCache {
    pub lookup: Lookup,
    /// The steps whose artifacts the key covers.
    pub covered: HashSet<usize>,
    /// Why what it did cannot be recorded (it read something the key does not cover).
    pub taint: Option<String>,
}

impl Scheduler {
    /// Looks a ready cached step up; `true` if it was a hit and is finished.
    pub(super) fn try_cache_hit(&mut self, i: usize) -> bool {
        let Some(session) = self.cache.clone() else {
            return false;
        };
        let def = &self.plan.steps[i];
        let (Some(_), Some(p)) = (&def.cache, def.plugin) else {
            return false;
        };
        // A plugin that did not load fails the attempt: nothing to key.
        let Some(digest) = self.digests[p].clone() else {
            return false;
        };
        let contract = self.contracts[p].clone().unwrap_or_default();
        let (deps, covered) = self.dep_outputs(i);
        let def = &self.plan.steps[i];
        let manifest = session.manifest(&self.plan, def, &digest, &contract, deps);
        let namespaces = crate::cache::namespaces(def.policy.trust, &session.kind);
        let mut lookup = session.lookup(manifest, namespaces);
        if let Some((ns, entry)) = lookup.hit.take() {
            let log = self.facts.dir.log_of(&def.id);
            match session.restore(&entry, &self.workspaces[def.board], &log) {
                Ok(()) => {
                    self.publish_cached(i, &entry);
                    self.journal.append(Record::Cached {
                        step: self.plan.steps[i].id.clone(),
                        key: crate::cache::short(&entry.key).to_string(),
                        saved: entry.duration,
                        from_run: entry.run.clone(),
                    });
                    let now = self.now();
                    let st = &mut self.steps[i];
                    st.start = Some(now);
                    st.output_blobs = Some(entry.outputs.clone());
                    st.cached = Some(CachedReport {
                        key: crate::cache::short(&entry.key).to_string(),
                        saved: entry.duration,
                        run: entry.run.clone(),
                        namespace: ns,
                    });
                    self.finish(i, StepStatus::Cached, None);
                    return true;
                }
                Err(why) => lookup.unusable = Some(why),
            }
        }
        session.explain_miss(&def.id, &lookup);
        self.steps[i].cache = Some(Box::new(StepCache { lookup, covered, taint: None }));
        false
    }

    /// Publishes a hit's artifacts under step `i`, as its run would have.
    fn publish_cached(&mut self, i: usize, entry: &crate::cache::Entry) {
        let id = self.plan.steps[i].id.clone();
        for blob in &entry.artifacts {
            let record = record_of(&id, blob);
            let reference = record.reference.clone();
            if !self.steps[i].artifacts.contains(&reference) {
                self.steps[i].artifacts.push(reference.clone());
            }
            if !self.published.artifacts.contains_key(&reference) {
                self.published.order.push(reference.clone());
            }
            self.journal.append(Record::Artifact { record: record.clone() });
            self.published.artifacts.insert(reference, record);
        }
    }

    /// What step `i`'s dependencies left, by step id, and which steps that is.
    fn dep_outputs(&self, i: usize) -> (BTreeMap<String, DepOutputs>, HashSet<usize>) {
        let mut out = BTreeMap::new();
        let mut covered = HashSet::new();
        let mut stack = self.plan.steps[i].deps.clone();
        while let Some(d) = stack.pop() {
            if !covered.insert(d) {
                continue;
            }
            let def = &self.plan.steps[d];
            if def.plugin.is_none() {
                stack.extend(def.deps.iter().copied());
                continue;
            }
            let st = &self.steps[d];
            let artifacts = st
                .artifacts
                .iter()
                .filter_map(|r| self.published.artifacts.get(r))
                .map(|r| (r.name.clone(), r.digest.clone()))
                .collect();
            let outputs = match &st.output_blobs {
                Some(blobs) => def
                    .outputs
                    .iter()
                    .map(|o| {
                        let d = blobs.iter().find(|b| &b.name == o).map_or("missing".into(), |b| b.digest.clone());
                        (o.clone(), d)
                    })
                    .collect(),
                None => def.outputs.iter().map(|o| (o.clone(), "missing".to_string())).collect(),
            };
            out.insert(def.id.clone(), DepOutputs { artifacts, outputs });
        }
        (out, covered)
    }

    /// Step `i` read an artifact of step `producer`: outside its key, what
    /// it does is not recorded.
    pub(super) fn cache_saw(&mut self, i: usize, producer: Option<usize>) {
        let plan = &self.plan;
        if let Some(state) = self.steps[i].cache.as_mut()
            && state.taint.is_none()
            && producer.is_none_or(|p| !state.covered.contains(&p))
        {
            let from = producer.map_or("a step".to_string(), |p| plan.steps[p].id.clone());
            state.taint = Some(format!(
                "step {} was not cached: it read an artifact of {from}, which it does not depend on (add it to \
                 `after` so the key covers it)",
                plan.steps[i].id
            ));
        }
    }

    /// A step passed: its declared outputs are stored (they key its
    /// cached dependents), and a cached step's entry is recorded.
    pub(super) fn after_pass(&mut self, i: usize) {
        let Some(session) = self.cache.clone() else {
            return;
        };
        let def = &self.plan.steps[i];
        if def.outputs.is_empty() && def.cache.is_none() {
            return;
        }
        let workspace = self.workspaces[def.board].clone();
        let state = self.steps[i].cache.take();
        let outputs = match session.put_outputs(&workspace, &def.outputs, def.policy.artifact_limit) {
            Ok(o) => o,
            Err(why) => {
                self.steps[i].output_blobs = None;
                if state.is_some() {
                    self.cache_notes.push(format!("step {} was not cached: {why}", def.id));
                }
                return;
            }
        };
        self.steps[i].output_blobs = Some(outputs.clone());
        let Some(state) = state else {
            return;
        };
        if let Some(why) = state.taint {
            self.cache_notes.push(why);
            return;
        }
        let st = &self.steps[i];
        let artifacts =
            st.artifacts.iter().filter_map(|r| self.published.artifacts.get(r)).map(blob_of).collect::<Vec<_>>();
        let duration = st.attempts.last().map(|a| self.now() - a.start).unwrap_or(0.0);
        let log = self.facts.dir.log_of(&def.id);
        match session.record(&state.lookup, &def.id, artifacts, outputs, &log, duration) {
            Recorded::New | Recorded::Same => {}
            Recorded::NonDeterministic(m) => self.cache_notes.push(m),
            Recorded::Skipped(why) => self.cache_notes.push(format!("step {} was not cached: {why}", def.id)),
        }
    }
}
