//! Critical-path priorities: a step's priority is the length of the longest
//! path from its start to the end of the graph, using each step's duration
//! from earlier runs (1 second when unknown). Among ready steps, the one
//! with the longest remaining path goes first.

use std::collections::{HashMap, VecDeque};

use crate::plan::Plan;

/// Duration assumed for a step never seen before, in seconds.
pub const UNKNOWN_SECONDS: f64 = 1.0;

/// Steps in an order where every step comes after its dependencies.
pub fn topological(plan: &Plan) -> Vec<usize> {
    let n = plan.steps.len();
    let dependents = plan.dependents();
    let mut missing: Vec<usize> = plan.steps.iter().map(|s| s.deps.len()).collect();
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &d in &dependents[i] {
            missing[d] -= 1;
            if missing[d] == 0 {
                queue.push_back(d);
            }
        }
    }
    order
}

/// Estimated seconds per step.
pub fn estimates(plan: &Plan, history: &HashMap<String, f64>) -> Vec<f64> {
    plan.steps.iter().map(|s| history.get(&s.id).copied().unwrap_or(UNKNOWN_SECONDS)).collect()
}

/// Remaining-path length per step, in microseconds.
pub fn priorities(plan: &Plan, estimate: &[f64]) -> Vec<u64> {
    let dependents = plan.dependents();
    let mut prio = vec![0u64; plan.steps.len()];
    for &i in topological(plan).iter().rev() {
        let tail = dependents[i].iter().map(|&d| prio[d]).max().unwrap_or(0);
        prio[i] = (estimate[i] * 1e6) as u64 + tail;
    }
    prio
}

/// The critical path of a finished run: the chain of steps, each the
/// dependency that finished last before the next one started, ending at the
/// step that finished last.
pub fn critical_path(plan: &Plan, ends: &[Option<f64>]) -> Vec<usize> {
    let Some(mut cur) = (0..plan.steps.len())
        .filter(|&i| ends[i].is_some())
        .max_by(|&a, &b| ends[a].partial_cmp(&ends[b]).unwrap_or(std::cmp::Ordering::Equal))
    else {
        return Vec::new();
    };
    let mut path = vec![cur];
    while let Some(prev) = plan.steps[cur]
        .deps
        .iter()
        .copied()
        .filter(|&d| ends[d].is_some())
        .max_by(|&a, &b| ends[a].partial_cmp(&ends[b]).unwrap_or(std::cmp::Ordering::Equal))
    {
        path.push(prev);
        cur = prev;
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn plan(text: &str) -> Plan {
        Plan::parse(text, Path::new("/p/baton.toml")).expect("valid")
    }

    #[test]
    fn long_chains_come_first() {
        // a (alone) vs b -> c -> d: b has the longer remaining path.
        let p = plan(
            "[[boards.x.steps]]\nname = \"a\"\n[[boards.y.steps]]\nname = \"b\"\n[[boards.y.steps]]\nname = \"c\"\n[[boards.y.steps]]\nname = \"d\"\n",
        );
        let prio = priorities(&p, &estimates(&p, &HashMap::new()));
        assert_eq!(prio, [1_000_000, 3_000_000, 2_000_000, 1_000_000]);
        let mut history = HashMap::new();
        history.insert("x.a".to_string(), 10.0);
        let prio = priorities(&p, &estimates(&p, &history));
        assert!(prio[0] > prio[1]);
    }

    #[test]
    fn critical_path_follows_the_last_finishing_dependency() {
        let p = plan(
            "[[boards.x.steps]]\nname = \"a\"\n[[boards.x.steps]]\nname = \"b\"\nafter = []\n[[boards.x.steps]]\nname = \"c\"\nafter = [\"a\", \"b\"]\n",
        );
        let ends = [Some(1.0), Some(5.0), Some(6.0)];
        assert_eq!(critical_path(&p, &ends), [1, 2]);
    }
}
