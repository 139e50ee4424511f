//! `--only`, `--skip` and `--from`: which steps a run carries out. Steps
//! left out count as done for their dependents.

use crate::plan::Plan;
use crate::text::suggest::hint;

/// What the user asked to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run these (steps or whole boards) and what they need.
    pub only: Vec<String>,
    /// Leave these out (steps or boards).
    pub skip: Vec<String>,
    /// Run these and everything after them; leave the rest out.
    pub from: Vec<String>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.only.is_empty() && self.skip.is_empty() && self.from.is_empty()
    }

    /// For each step, whether it runs; an error names an unknown step.
    pub fn apply(&self, plan: &Plan) -> Result<Vec<bool>, String> {
        let n = plan.steps.len();
        let mut run = vec![true; n];
        if !self.only.is_empty() {
            let roots = resolve(plan, &self.only, "--only")?;
            run = closure(n, &roots, |i| plan.steps[i].deps.clone());
        }
        if !self.from.is_empty() {
            let roots = resolve(plan, &self.from, "--from")?;
            let dependents = plan.dependents();
            let after = closure(n, &roots, |i| dependents[i].clone());
            for i in 0..n {
                run[i] &= after[i];
            }
        }
        for i in resolve(plan, &self.skip, "--skip")? {
            run[i] = false;
        }
        Ok(run)
    }
}

/// Steps named by `board.step` or `board`.
fn resolve(plan: &Plan, names: &[String], flag: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for name in names {
        if let Some(i) = plan.step_index(name) {
            out.push(i);
        } else if let Some(b) = plan.boards.iter().position(|b| b == name) {
            out.extend((0..plan.steps.len()).filter(|&i| plan.steps[i].board == b));
        } else {
            let candidates = plan.steps.iter().map(|s| s.id.as_str()).chain(plan.boards.iter().map(String::as_str));
            return Err(format!("{flag} {name}: no such step or board{}", hint(name, candidates)));
        }
    }
    Ok(out)
}

fn closure(n: usize, roots: &[usize], next: impl Fn(usize) -> Vec<usize>) -> Vec<bool> {
    let mut seen = vec![false; n];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(next(i));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn plan() -> Plan {
        Plan::parse(
            "[[boards.l.steps]]\nname = \"a\"\n[[boards.l.steps]]\nname = \"b\"\n[[boards.l.steps]]\nname = \"c\"\n[[boards.w.steps]]\nname = \"x\"\n",
            Path::new("/p/baton.toml"),
        )
        .expect("valid")
    }

    #[test]
    fn only_takes_what_is_needed() {
        let s = Selection { only: vec!["l.b".into()], ..Default::default() };
        assert_eq!(s.apply(&plan()).expect("ok"), [true, true, false, false]);
    }

    #[test]
    fn from_takes_what_follows() {
        let s = Selection { from: vec!["l.b".into()], ..Default::default() };
        assert_eq!(s.apply(&plan()).expect("ok"), [false, true, true, false]);
    }

    #[test]
    fn skip_and_boards() {
        let s = Selection { skip: vec!["w".into(), "l.a".into()], ..Default::default() };
        assert_eq!(s.apply(&plan()).expect("ok"), [false, true, true, false]);
        let bad = Selection { only: vec!["l.z".into()], ..Default::default() };
        assert!(bad.apply(&plan()).unwrap_err().starts_with("--only l.z: no such step or board"));
    }
}
