//! The secret values of a run: every name the selected steps list in
//! `secrets`, read once from baton's environment before any step starts.
//! A missing one ends the run before it begins, naming who needs it.

use crate::plan::Plan;
use crate::text::Secrets;
use crate::text::mask::SecretError;

/// The secrets that the steps selected in `selected` need; every missing
/// or unreadable variable is one error.
pub fn resolve(plan: &Plan, selected: &[bool]) -> Result<Secrets, Vec<SecretError>> {
    // (name, first step listing it, how many more do)
    let mut wanted: Vec<(&str, &str, usize)> = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        if !selected.get(i).copied().unwrap_or(false) {
            continue;
        }
        for name in &step.policy.secrets {
            match wanted.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, _, more)) => *more += 1,
                None => wanted.push((name, &step.id, 0)),
            }
        }
    }
    Secrets::from_env(wanted.into_iter().map(|(name, first, more)| {
        let used_by = match more {
            0 => format!("step {first}"),
            n => format!("step {first} and {n} more"),
        };
        (name, used_by)
    }))
}
