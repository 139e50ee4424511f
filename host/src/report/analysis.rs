//! Why a run took as long as it did: each step's time split into running,
//! queued (for a job slot or its pool), waiting (on signals or artifacts)
//! and backoff (between retries), summed along the critical path.

use super::{RunReport, StepReport};
use crate::units::Human;

/// Where a step's time went, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Breakdown {
    /// Attempts running, waits excluded.
    pub running: f64,
    /// Ready but without a job slot or a slot of its pool.
    pub queued: f64,
    /// Blocked in signal or artifact waits (its job slot given back).
    pub waiting: f64,
    /// Between a failed attempt and the next one becoming ready.
    pub backoff: f64,
}

impl Breakdown {
    pub fn total(&self) -> f64 {
        self.running + self.queued + self.waiting + self.backoff
    }

    fn add(&mut self, o: &Breakdown) {
        self.running += o.running;
        self.queued += o.queued;
        self.waiting += o.waiting;
        self.backoff += o.backoff;
    }
}

/// Splits the time of `s`, from when its first attempt became ready to its end.
pub fn breakdown(s: &StepReport) -> Breakdown {
    let Some(end) = s.end else {
        return Breakdown::default();
    };
    let mut b = Breakdown::default();
    let mut attempts_time = 0.0;
    for a in &s.attempts {
        b.queued += (a.start - a.queued).max(0.0);
        attempts_time += (a.end.unwrap_or(end) - a.start).max(0.0);
    }
    b.waiting = s.waits.iter().map(|w| (w.end.unwrap_or(end) - w.start).max(0.0)).sum::<f64>().min(attempts_time);
    b.running = attempts_time - b.waiting;
    if let Some(first) = s.attempts.first() {
        let span = (end - first.queued).max(0.0);
        b.backoff = (span - b.queued - attempts_time).max(0.0);
    }
    b
}

/// The critical path of a run with the time of each of its steps.
#[derive(Debug, Clone)]
pub struct CriticalPath<'a> {
    pub steps: Vec<(&'a StepReport, Breakdown)>,
    /// Summed over the path.
    pub total: Breakdown,
    /// Run time not spent in the path's steps: loading plugins, starting
    /// sandboxes, finishing the run.
    pub other: f64,
    pub run: f64,
}

pub fn critical_path(r: &RunReport) -> CriticalPath<'_> {
    let mut total = Breakdown::default();
    let steps: Vec<(&StepReport, Breakdown)> = r
        .critical_path
        .iter()
        .filter_map(|id| r.step(id))
        .map(|s| {
            let b = breakdown(s);
            total.add(&b);
            (s, b)
        })
        .collect();
    CriticalPath { other: (r.duration - total.total()).max(0.0), steps, total, run: r.duration }
}

impl CriticalPath<'_> {
    /// `running 2.1s, queued 1.0s for a job slot or pool, …` (parts that are
    /// worth a mention, largest first).
    pub fn explain(&self) -> String {
        let t = &self.total;
        let mut parts = vec![
            (t.running, "running"),
            (t.queued, "queued for a job slot or pool"),
            (t.waiting, "waiting on signals or artifacts"),
            (t.backoff, "in retry backoff"),
            (self.other, "starting up and between steps"),
        ];
        parts.retain(|(s, _)| *s >= 0.0005 && *s >= self.run * 0.01);
        parts.sort_by(|a, b| b.0.total_cmp(&a.0));
        parts.iter().map(|(s, what)| format!("{} {what}", human(*s))).collect::<Vec<_>>().join(", ")
    }
}

/// A duration for people: `850ms`, `2.5s`, `1m30s`.
pub fn human(seconds: f64) -> String {
    let s = if seconds.is_finite() { seconds.max(0.0) } else { 0.0 };
    Human(std::time::Duration::from_secs_f64(s)).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::{AttemptReport, WaitReport};

    /// A status word as its type, for tests written with words.
    fn word<T: serde::de::DeserializeOwned>(w: &str) -> T {
        serde_json::from_value(serde_json::Value::String(w.into())).expect("a status word")
    }

    /// A step report for tests: `attempts` are `(queued, start, end, status)`.
    pub fn step(id: &str, outcome: &str, attempts: &[(f64, f64, f64, &str)]) -> StepReport {
        let (board, _) = id.split_once('.').expect("board.step");
        StepReport {
            id: id.into(),
            board: board.into(),
            status: word(match outcome {
                "ok" | "previously_done" => "ok",
                "failed" | "forgiven" | "cancelled" => "failed",
                _ => "skipped",
            }),
            outcome: Some(word(outcome)),
            start: attempts.first().map(|a| a.1),
            end: attempts.last().map(|a| a.2),
            error: (outcome != "ok").then(|| format!("{id} went wrong")),
            deps: Vec::new(),
            attempts: attempts
                .iter()
                .enumerate()
                .map(|(n, &(queued, start, end, status))| AttemptReport {
                    attempt: n as u32 + 1,
                    queued,
                    start,
                    end: Some(end),
                    status: word(status),
                    error: (status != "ok").then(|| format!("attempt {} of {id} failed", n + 1)),
                    kind: (status != "ok").then_some(crate::status::FailureKind::Stage),
                    log_tail: if status == "ok" { Vec::new() } else { vec!["stderr: it broke".into()] },
                    worker: None,
                })
                .collect(),
            previously_done: outcome == "previously_done",
            forgiven: outcome == "forgiven",
            pool: None,
            always: false,
            on_failure: "halt".into(),
            waits: Vec::new(),
            artifacts: Vec::new(),
            log: None,
            cached: None,
        }
    }

    /// A run report for tests over `steps`, with `path` as critical path.
    pub fn run(steps: Vec<StepReport>, path: &[&str], duration: f64) -> RunReport {
        let failed = steps.iter().any(|s| s.outcome().fails_run());
        RunReport {
            run_id: "20260101-000000-abcd".into(),
            pipeline: "demo".into(),
            file: "/p/baton.toml".into(),
            status: if failed { crate::status::RunStatus::Failed } else { crate::status::RunStatus::Ok },
            started_unix: 1_767_225_600.0,
            duration,
            jobs: 2,
            resumed_from: None,
            critical_path: path.iter().map(|s| s.to_string()).collect(),
            critical_path_seconds: 0.0,
            failures: Vec::new(),
            log_dir: "/p/.baton/runs/20260101-000000-abcd/logs".into(),
            waiting_policy: String::new(),
            plugins: Vec::new(),
            artifacts: Vec::new(),
            notes: Vec::new(),
            kind: Default::default(),
            try_run: None,
            host: Default::default(),
            steps,
        }
    }

    #[test]
    fn a_step_splits_into_queued_running_waiting_and_backoff() {
        // Attempt 1: ready at 0, slot at 1, fails at 3; backoff until 4;
        // attempt 2: ready at 4, slot at 4.5, waits 5..6, ends at 8.
        let mut s = step("b.s", "ok", &[(0.0, 1.0, 3.0, "failed"), (4.0, 4.5, 8.0, "ok")]);
        s.waits.push(WaitReport {
            on: vec!["x.y/sig".into()],
            start: 5.0,
            end: Some(6.0),
            error: None,
            slot_released: true,
        });
        let b = breakdown(&s);
        assert_eq!(b, Breakdown { running: 4.5, queued: 1.5, waiting: 1.0, backoff: 1.0 });
        assert_eq!(b.total(), 8.0);
    }

    #[test]
    fn the_critical_path_explains_the_run_time() {
        let r = run(
            vec![
                step("a.one", "ok", &[(0.5, 0.5, 2.5, "ok")]),
                step("a.two", "ok", &[(2.5, 4.5, 6.5, "ok")]),
                step("b.side", "ok", &[(0.5, 0.5, 1.0, "ok")]),
            ],
            &["a.one", "a.two"],
            7.0,
        );
        let cp = critical_path(&r);
        assert_eq!(cp.steps.iter().map(|(s, _)| s.id.as_str()).collect::<Vec<_>>(), ["a.one", "a.two"]);
        assert_eq!(cp.total.running, 4.0);
        assert_eq!(cp.total.queued, 2.0);
        assert_eq!(cp.other, 1.0);
        assert_eq!(cp.explain(), "4s running, 2s queued for a job slot or pool, 1s starting up and between steps");
    }
}
