//! A step's sandbox policy: what it may do and how much of the machine it may
//! use. Built-in defaults depend on trust; `[policy]` overrides them for the
//! whole pipeline, `[policy.untrusted]` for untrusted steps, and each step may
//! override again, except that an untrusted step cannot go beyond its caps.

use std::time::Duration;

use serde::Serialize;

use crate::plan::schema::{PolicyFields, Trust};
use crate::text::suggest::hint;
use crate::units::{Human, Size, parse_duration, parse_size};

/// Capability names, in the order `baton plugin inspect` lists them.
pub const CAPABILITIES: [&str; 10] =
    ["log", "process", "artifacts", "signals", "filesystem", "sockets", "clocks", "random", "cli", "io"];

/// The wasm stack of every step unless `[policy] stack` says otherwise.
pub const DEFAULT_WASM_STACK: usize = 1 << 20;

/// The resolved policy of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepPolicy {
    pub trust: Trust,
    /// Programs the stage may run; empty means none.
    pub spawn: Vec<String>,
    /// Host environment variables passed to spawned processes (besides `PATH`).
    pub env: Vec<String>,
    /// Host environment variables passed like `env`, whose values are masked
    /// in everything baton writes or shows.
    pub secrets: Vec<String>,
    /// Linear memory cap, bytes.
    pub memory: u64,
    /// Wall-clock limit of one attempt.
    pub timeout: Duration,
    /// CPU budget of the stage's wasm code for one attempt.
    pub cpu: Option<Duration>,
    /// Cap of the step log, bytes.
    pub log_limit: u64,
    /// Cap of the captured output of one process, per stream, bytes.
    pub output_limit: u64,
    /// Cap of one published artifact (the blob: a file, or a directory's
    /// tar), bytes, counted as it is read.
    pub artifact_limit: u64,
    /// Max processes running at once.
    pub max_children: u32,
    /// Capabilities the plugin may import; `None` is every capability.
    pub capabilities: Option<Vec<String>>,
    /// Wasm stack, bytes: the pipeline's (`[policy] stack`), the same for every step.
    pub stack: u64,
}

impl StepPolicy {
    /// Built-in defaults for a trust level.
    pub fn builtin(trust: Trust) -> Self {
        match trust {
            Trust::Trusted => Self {
                trust,
                spawn: Vec::new(),
                env: Vec::new(),
                secrets: Vec::new(),
                memory: 1 << 30,
                timeout: Duration::from_secs(3600),
                cpu: None,
                log_limit: 64 << 20,
                output_limit: 4 << 20,
                artifact_limit: 4 << 30,
                max_children: 32,
                capabilities: None,
                stack: DEFAULT_WASM_STACK as u64,
            },
            Trust::Untrusted => Self {
                trust,
                spawn: Vec::new(),
                env: Vec::new(),
                secrets: Vec::new(),
                memory: 256 << 20,
                timeout: Duration::from_secs(600),
                cpu: Some(Duration::from_secs(300)),
                log_limit: 8 << 20,
                output_limit: 1 << 20,
                artifact_limit: 1 << 30,
                max_children: 8,
                capabilities: None,
                stack: DEFAULT_WASM_STACK as u64,
            },
        }
    }

    /// Applies the fields set in `over`, reporting bad values as
    /// `(key, message)`.
    pub fn apply(&mut self, over: &PolicyFields, errors: &mut Vec<(&'static str, String)>) {
        if let Some(v) = &over.spawn {
            self.spawn = v.clone();
        }
        if let Some(v) = &over.env {
            self.env = v.clone();
        }
        if let Some(v) = &over.secrets {
            for name in v {
                if !valid_variable(name) {
                    errors.push((
                        "secrets",
                        format!(
                            "invalid variable name `{name}` (use letters, digits and `_`, not starting with a digit)"
                        ),
                    ));
                }
            }
            self.secrets = v.clone();
        }
        let mut size = |key: &'static str, v: &Option<String>, slot: &mut u64| {
            if let Some(text) = v {
                match parse_size(text) {
                    Ok(0) => errors.push((key, format!("{key} must be more than 0"))),
                    Ok(n) => *slot = n,
                    Err(e) => errors.push((key, e)),
                }
            }
        };
        size("memory", &over.memory, &mut self.memory);
        size("log_limit", &over.log_limit, &mut self.log_limit);
        size("output_limit", &over.output_limit, &mut self.output_limit);
        size("artifact_limit", &over.artifact_limit, &mut self.artifact_limit);
        let mut duration = |key: &'static str, v: &Option<String>| -> Option<Duration> {
            let text = v.as_ref()?;
            match parse_duration(text) {
                Ok(d) if d.is_zero() => {
                    errors.push((key, format!("{key} must be more than 0")));
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push((key, e));
                    None
                }
            }
        };
        if let Some(d) = duration("timeout", &over.timeout) {
            self.timeout = d;
        }
        if let Some(d) = duration("cpu", &over.cpu) {
            self.cpu = Some(d);
        }
        if let Some(n) = over.max_children {
            self.max_children = n;
        }
        if let Some(caps) = &over.capabilities {
            for c in caps {
                if !CAPABILITIES.contains(&c.as_str()) {
                    errors.push((
                        "capabilities",
                        format!(
                            "unknown capability `{c}`{} (known: {})",
                            hint(c, CAPABILITIES),
                            CAPABILITIES.join(", ")
                        ),
                    ));
                }
            }
            self.capabilities = Some(caps.clone());
        }
    }

    /// Errors of the resolved policy as a whole, as `(key, message)`.
    pub fn conflicts(&self) -> Vec<(&'static str, String)> {
        self.secrets
            .iter()
            .filter(|s| self.env.contains(s))
            .map(|s| {
                ("secrets", format!("`{s}` is listed in both `env` and `secrets`: list a secret in `secrets` only"))
            })
            .collect()
    }

    /// Checks an untrusted step's policy against the caps of untrusted steps;
    /// returns `(key, message)` for each setting that goes beyond them.
    pub fn exceeds(&self, caps: &StepPolicy) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for program in &self.spawn {
            if !caps.spawn.contains(program) {
                out.push((
                    "spawn",
                    format!("untrusted steps may not run `{program}` (not in [policy.untrusted] spawn)"),
                ));
            }
        }
        for var in &self.env {
            if !caps.env.contains(var) {
                out.push(("env", format!("untrusted steps may not read `{var}` (not in [policy.untrusted] env)")));
            }
        }
        for var in &self.secrets {
            if !caps.secrets.contains(var) {
                out.push((
                    "secrets",
                    format!("untrusted steps may not read secret `{var}` (not in [policy.untrusted] secrets)"),
                ));
            }
        }
        let mut over = |key: &'static str, have: String, cap: String, bigger: bool| {
            if bigger {
                out.push((key, format!("{key} {have} is above the untrusted cap {cap}")));
            }
        };
        over("memory", Size(self.memory).to_string(), Size(caps.memory).to_string(), self.memory > caps.memory);
        over("timeout", Human(self.timeout).to_string(), Human(caps.timeout).to_string(), self.timeout > caps.timeout);
        over(
            "log_limit",
            Size(self.log_limit).to_string(),
            Size(caps.log_limit).to_string(),
            self.log_limit > caps.log_limit,
        );
        over(
            "output_limit",
            Size(self.output_limit).to_string(),
            Size(caps.output_limit).to_string(),
            self.output_limit > caps.output_limit,
        );
        over(
            "artifact_limit",
            Size(self.artifact_limit).to_string(),
            Size(caps.artifact_limit).to_string(),
            self.artifact_limit > caps.artifact_limit,
        );
        over(
            "max_children",
            self.max_children.to_string(),
            caps.max_children.to_string(),
            self.max_children > caps.max_children,
        );
        if let Some(allowed) = &caps.capabilities {
            for c in self.capabilities.as_deref().unwrap_or(&[]) {
                if !allowed.contains(c) {
                    out.push(("capabilities", format!("untrusted steps may not use capability `{c}`")));
                }
            }
        }
        match (self.cpu, caps.cpu) {
            (None, Some(cap)) => out.push(("cpu", format!("untrusted steps need a cpu budget (cap {})", Human(cap)))),
            (Some(have), Some(cap)) if have > cap => {
                out.push(("cpu", format!("cpu {} is above the untrusted cap {}", Human(have), Human(cap))))
            }
            _ => {}
        }
        out
    }
}

impl StepPolicy {
    /// Narrows this policy to `caps`: programs, variables and secrets not in
    /// them are dropped, limits lowered to theirs, a missing cpu budget set
    /// to theirs. Returns what was narrowed, as [`StepPolicy::exceeds`] says it.
    pub fn clamp(&mut self, caps: &StepPolicy) -> Vec<(&'static str, String)> {
        let found = self.exceeds(caps);
        self.spawn.retain(|p| caps.spawn.contains(p));
        self.env.retain(|v| caps.env.contains(v));
        self.secrets.retain(|v| caps.secrets.contains(v));
        self.memory = self.memory.min(caps.memory);
        self.timeout = self.timeout.min(caps.timeout);
        self.log_limit = self.log_limit.min(caps.log_limit);
        self.output_limit = self.output_limit.min(caps.output_limit);
        self.artifact_limit = self.artifact_limit.min(caps.artifact_limit);
        self.max_children = self.max_children.min(caps.max_children);
        if let Some(cap) = caps.cpu {
            self.cpu = Some(self.cpu.map_or(cap, |have| have.min(cap)));
        }
        if let Some(allowed) = &caps.capabilities {
            let mine: Vec<String> = match &self.capabilities {
                Some(c) => c.clone(),
                None => CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            };
            self.capabilities = Some(mine.into_iter().filter(|c| allowed.contains(c)).collect());
        }
        found
    }
}

/// Whether `name` is an environment variable name: letters, digits and
/// `_`, not starting with a digit.
pub fn valid_variable(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> PolicyFields {
        PolicyFields::default()
    }

    #[test]
    fn step_fields_override_defaults() {
        let mut p = StepPolicy::builtin(Trust::Trusted);
        let mut errors = Vec::new();
        p.apply(
            &PolicyFields {
                memory: Some("64MiB".into()),
                timeout: Some("30s".into()),
                spawn: Some(vec!["sh".into()]),
                ..fields()
            },
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(p.memory, 64 << 20);
        assert_eq!(p.timeout, Duration::from_secs(30));
        assert_eq!(p.spawn, vec!["sh".to_string()]);
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut p = StepPolicy::builtin(Trust::Trusted);
        let mut errors = Vec::new();
        p.apply(&PolicyFields { memory: Some("lots".into()), timeout: Some("0s".into()), ..fields() }, &mut errors);
        let keys: Vec<_> = errors.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["memory", "timeout"]);
    }

    #[test]
    fn untrusted_caps_are_enforced() {
        let caps = StepPolicy::builtin(Trust::Untrusted);
        let mut p = caps.clone();
        p.memory = 2 << 30;
        p.spawn = vec!["curl".into()];
        let found = p.exceeds(&caps);
        assert!(found.iter().any(|(k, m)| *k == "memory" && m == "memory 2GiB is above the untrusted cap 256MiB"));
        assert!(found.iter().any(|(k, _)| *k == "spawn"));
    }

    #[test]
    fn clamping_narrows_to_the_caps() {
        let mut caps = StepPolicy::builtin(Trust::Untrusted);
        caps.spawn = vec!["sh".into()];
        let mut p = StepPolicy::builtin(Trust::Trusted);
        p.spawn = vec!["sh".into(), "curl".into()];
        p.secrets = vec!["TOKEN".into()];
        let found = p.clamp(&caps);
        assert_eq!(p.spawn, ["sh"]);
        assert!(p.secrets.is_empty());
        assert_eq!(p.memory, caps.memory);
        assert_eq!(p.cpu, caps.cpu);
        assert!(found.iter().any(|(k, _)| *k == "spawn") && found.iter().any(|(k, _)| *k == "memory"));
        assert!(p.exceeds(&caps).is_empty());
    }
}
