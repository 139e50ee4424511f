//! Policy checks made when a step uses what its policy governs: the
//! capabilities its plugin imports and the programs it spawns. The policy
//! itself (defaults, `[policy]` overrides, untrusted caps) is data of the
//! plan: [`crate::plan::policy`]. Deny by default: an empty list allows
//! nothing, and no check has an "allow" fallback.

use crate::plan::Trust;
use crate::plan::policy::StepPolicy;

/// Checks a plugin's imports against a step's `capabilities` before it
/// runs; the refusal names the capability and the import.
///
/// Importing `process` alone is not refused, even for an untrusted step
/// without a spawn list: componentize-py and componentize-js components
/// import every interface whether they use it or not. Each call is checked
/// instead (`spawn_allowed`, then [`spawn_denied`]), and an empty list
/// allows nothing.
pub fn check_capabilities(
    policy: &StepPolicy,
    step: &str,
    plugin: &str,
    imports: &[(&'static str, String)],
) -> Result<(), String> {
    for (cap, import) in imports {
        if let Some(allowed) = &policy.capabilities
            && !allowed.iter().any(|a| a == cap)
        {
            return Err(format!(
                "plugin `{plugin}` imports `{import}` (capability `{cap}`), which step {step} may not use \
                 (allowed capabilities: {})",
                if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
            ));
        }
    }
    Ok(())
}

/// Why `program` may not run for `step`, and where to allow it: untrusted
/// steps take their list from `[policy.untrusted] spawn`, trusted ones from
/// `[policy] spawn`; a step's own `spawn` replaces either.
pub fn spawn_denied(policy: &StepPolicy, step: &str, program: &str) -> String {
    let allowed = if policy.spawn.is_empty() { "none".to_string() } else { policy.spawn.join(", ") };
    let (whose, where_) = match policy.trust {
        Trust::Trusted => ("step", "[policy] spawn"),
        Trust::Untrusted => ("untrusted step", "[policy.untrusted] spawn (untrusted steps do not use [policy] spawn)"),
    };
    format!(
        "program `{program}` is not in the spawn allow-list of {whose} {step} (allowed: {allowed}); to allow it, \
         add it to {where_} and to the step's `spawn` if it sets one"
    )
}

/// Whether a program may be spawned under an allow-list. Entries are bare
/// names (matched against a bare program name, found on `PATH`) or absolute
/// paths (matched exactly). There is no wildcard.
pub fn spawn_allowed(allow: &[String], program: &str) -> bool {
    allow.iter().any(|entry| entry == program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::schema::PolicyFields;

    fn fields() -> PolicyFields {
        PolicyFields::default()
    }

    #[test]
    fn capabilities_are_checked_against_the_policy() {
        let imports =
            vec![("log", "baton:stage/log@0.1.1".to_string()), ("process", "baton:stage/process@0.1.1".into())];
        // Importing `process` is no refusal, even without a spawn list: calls are checked.
        let untrusted = StepPolicy::builtin(Trust::Untrusted);
        assert_eq!(check_capabilities(&untrusted, "try.t", "trybot", &imports), Ok(()));
        let mut limited = StepPolicy::builtin(Trust::Trusted);
        limited.capabilities = Some(vec!["log".into()]);
        assert!(
            check_capabilities(&limited, "b.s", "p", &imports).unwrap_err().contains("(allowed capabilities: log)")
        );
        assert!(check_capabilities(&StepPolicy::builtin(Trust::Trusted), "b.s", "p", &imports).is_ok());
        let mut errors = Vec::new();
        limited.apply(&PolicyFields { capabilities: Some(vec!["proces".into()]), ..fields() }, &mut errors);
        assert!(errors[0].1.starts_with("unknown capability `proces` (did you mean process?)"), "{errors:?}");
    }

    #[test]
    fn a_denial_says_where_to_allow_the_program() {
        let mut trusted = StepPolicy::builtin(Trust::Trusted);
        trusted.spawn = vec!["sh".into()];
        assert_eq!(
            spawn_denied(&trusted, "b.s", "curl"),
            "program `curl` is not in the spawn allow-list of step b.s (allowed: sh); to allow it, add it to \
             [policy] spawn and to the step's `spawn` if it sets one"
        );
        assert_eq!(
            spawn_denied(&StepPolicy::builtin(Trust::Untrusted), "try.t", "pytest"),
            "program `pytest` is not in the spawn allow-list of untrusted step try.t (allowed: none); to allow it, \
             add it to [policy.untrusted] spawn (untrusted steps do not use [policy] spawn) and to the step's \
             `spawn` if it sets one"
        );
    }

    #[test]
    fn allow_list_has_no_wildcard() {
        let allow = vec!["sh".to_string(), "/usr/bin/make".to_string()];
        assert!(spawn_allowed(&allow, "sh"));
        assert!(spawn_allowed(&allow, "/usr/bin/make"));
        assert!(!spawn_allowed(&allow, "/bin/sh"));
        assert!(!spawn_allowed(&allow, "make"));
        assert!(!spawn_allowed(&allow, "*"));
        assert!(!spawn_allowed(&[], "sh"));
    }
}
