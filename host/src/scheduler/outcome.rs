//! The end of a run: the report, `report.json`, the journal's last record,
//! and the step durations for the next run's priorities.

use super::step_run::Status;
use super::{Scheduler, priority};
use crate::plan::OnFailure;
use crate::report::host_usage::{self, HostUsage};
use crate::report::{AttemptReport, FailureReport, Outcome, RunReport, StepReport, WAITING_POLICY, WaitReport};
use crate::status::{AttemptStatus, RunStatus, StepStatus};
use crate::storage::journal::Record;
use crate::storage::{atomic, durations};

impl Scheduler {
    pub(super) fn finish_run(mut self) -> RunReport {
        self.executor.finish();
        let duration = self.now();
        let failed = self.steps.iter().any(|s| s.status == Status::Done(StepStatus::Failed) && !s.forgiven);
        let status = if self.cancelled {
            RunStatus::Cancelled
        } else if failed {
            RunStatus::Failed
        } else {
            RunStatus::Ok
        };
        let plan = self.plan.clone();
        let mut steps = Vec::with_capacity(plan.steps.len());
        // One listing of the logs instead of a `stat` per step.
        let logs: std::collections::HashSet<_> = self.facts.dir.log_files().into_iter().map(|(_, p)| p).collect();
        let mut failures = Vec::new();
        for (i, def) in plan.steps.iter().enumerate() {
            let st = &self.steps[i];
            let outcome = match st.status {
                Status::Done(StepStatus::Failed) if st.forgiven => Outcome::Forgiven,
                Status::Done(done) => done,
                // Never left unfinished: the main loop ends when all are done.
                _ => Outcome::Skipped,
            };
            // The coarse status of the report.
            let (coarse, error) = match outcome {
                Outcome::Ok | Outcome::PreviouslyDone | Outcome::Cached => (Outcome::Ok, None),
                Outcome::Excluded => {
                    (Outcome::Skipped, Some("left out of this run (--only/--skip/--from)".to_string()))
                }
                Outcome::Failed | Outcome::Forgiven | Outcome::Cancelled => (Outcome::Failed, st.error.clone()),
                Outcome::Skipped => (Outcome::Skipped, st.error.clone()),
            };
            let attempts: Vec<AttemptReport> = st
                .attempts
                .iter()
                .map(|a| AttemptReport {
                    attempt: a.number,
                    queued: a.queued,
                    start: a.start,
                    end: a.end,
                    status: if a.cancelled {
                        AttemptStatus::Cancelled
                    } else if a.error.is_some() {
                        AttemptStatus::Failed
                    } else {
                        AttemptStatus::Ok
                    },
                    error: a.error.as_ref().map(|(_, m)| m.clone()),
                    kind: a.error.as_ref().map(|(k, _)| *k),
                    log_tail: a.tail.clone(),
                    worker: a.worker.clone(),
                })
                .collect();
            if st.status == Status::Done(StepStatus::Failed)
                && let Some(last) = st.attempts.last()
            {
                failures.push(FailureReport {
                    step: def.id.clone(),
                    attempt: last.number,
                    error: st.error.clone().unwrap_or_default(),
                    kind: last.error.as_ref().map(|(k, _)| *k),
                    forgiven: st.forgiven,
                    log_tail: last.tail.clone(),
                });
            }
            let log = self.facts.dir.log_of(&def.id);
            steps.push(StepReport {
                id: def.id.clone(),
                board: plan.boards[def.board].clone(),
                status: coarse,
                outcome: Some(outcome),
                start: st.start,
                end: st.end,
                error,
                deps: def.deps.iter().map(|&d| plan.steps[d].id.clone()).collect(),
                attempts,
                previously_done: st.status == Status::Done(StepStatus::PreviouslyDone),
                forgiven: st.forgiven,
                pool: def.pool.map(|p| plan.pools[p].name.clone()),
                always: def.always,
                on_failure: match def.on_failure {
                    OnFailure::Halt => "halt",
                    OnFailure::Continue => "continue",
                    OnFailure::Ignore => "ignore",
                }
                .into(),
                waits: st
                    .waits
                    .iter()
                    .map(|w| WaitReport {
                        on: w.on.clone(),
                        start: w.start,
                        end: w.end,
                        error: w.error.clone(),
                        slot_released: true,
                    })
                    .collect(),
                artifacts: st.artifacts.clone(),
                log: logs.contains(&log).then(|| log.display().to_string()),
                cached: st.cached.clone(),
            });
        }
        let ends: Vec<Option<f64>> = self.steps.iter().map(|s| if s.start.is_some() { s.end } else { None }).collect();
        let path = priority::critical_path(&plan, &ends);
        let critical_path_seconds =
            path.iter().map(|&i| self.steps[i].start.zip(self.steps[i].end).map(|(a, b)| b - a).unwrap_or(0.0)).sum();
        let mut notes = plan.notes.clone();
        notes.extend(self.executor.notes());
        notes.append(&mut self.cache_notes);
        let report = RunReport {
            run_id: self.facts.dir.id.clone(),
            pipeline: plan.name.clone(),
            file: plan.file.display().to_string(),
            status,
            started_unix: self.facts.started_unix,
            duration,
            jobs: self.jobs,
            resumed_from: self.facts.resumed_from.clone(),
            steps,
            critical_path: path.iter().map(|&i| plan.steps[i].id.clone()).collect(),
            critical_path_seconds,
            failures,
            log_dir: self.facts.dir.logs().display().to_string(),
            waiting_policy: WAITING_POLICY.into(),
            plugins: self.facts.plugin_loads.clone(),
            artifacts: self.published.order.iter().filter_map(|r| self.published.artifacts.get(r).cloned()).collect(),
            notes,
            kind: plan.kind,
            try_run: plan.try_info.clone(),
            host: HostUsage {
                start: self.facts.host_start,
                end: {
                    if std::env::var_os(crate::env_vars::DEBUG_FDS).is_some() {
                        eprintln!("baton: open at the end: {:?}", host_usage::counted_fds());
                    }
                    host_usage::sample()
                },
            },
        };
        self.journal.append(Record::End { status, duration });
        let _ = self.journal.close();
        if let Ok(bytes) = serde_json::to_vec_pretty(&report) {
            let _ = atomic::write(&self.facts.dir.report(), &bytes, atomic::Sync::Derived);
        }
        let measured: Vec<(String, f64)> = plan
            .steps
            .iter()
            .enumerate()
            .filter(|(i, _)| self.steps[*i].status == Status::Done(StepStatus::Ok))
            .filter_map(|(i, s)| self.steps[i].start.zip(self.steps[i].end).map(|(a, b)| (s.id.clone(), b - a)))
            .collect();
        let _ = durations::record(&plan.state_dir(), &measured);
        report
    }
}
