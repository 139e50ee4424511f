//! Who decides trust when the pipeline file is not the operator's: the run
//! modes `baton run --untrusted`, `baton run --policy FILE` (or
//! `BATON_POLICY`) and `baton try`.
//!
//! In a trybot or a CI job on a stranger's pull request, `baton.toml` may
//! come with the change; what it says about trust cannot be believed. The
//! operator's settings live outside the project:
//! - `force_untrusted` makes every step untrusted whatever the file says
//!   (the untrusted caps as its policy, the sandbox user, no network), and
//!   withholds secrets: a step that lists any is skipped with a reason;
//! - an operator policy file's `[policy.untrusted]` is the ceiling of
//!   untrusted steps: the pipeline's own `[policy.untrusted]` and its steps
//!   can narrow it, never widen it (what they ask beyond it is dropped, and
//!   said in the plan's notes).
//!
//! The resulting [`RunKind`] is on the [`Plan`](super::Plan): the one place
//! the cache (and anything else) asks whether a run is a try run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::policy::StepPolicy;
use super::schema::{PolicyFields, Trust};

/// What kind of run a plan is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// The pipeline file decides trust.
    #[default]
    Normal,
    /// `baton run --untrusted` or an operator policy with `trust = "untrusted"`.
    Untrusted,
    /// `baton try`: a patch under the trusted pipeline; every step untrusted.
    Try,
}

impl RunKind {
    /// Whether every step is untrusted whatever the file says.
    pub fn forces_untrusted(self) -> bool {
        matches!(self, RunKind::Untrusted | RunKind::Try)
    }

    /// Why a step that lists secrets is skipped in this kind of run.
    pub fn withheld_reason(self) -> Option<&'static str> {
        match self {
            RunKind::Normal => None,
            RunKind::Untrusted => Some("secrets are not given to untrusted runs"),
            RunKind::Try => Some("secrets are not given to try runs"),
        }
    }
}

/// The operator's settings for one run, from outside the project.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Operator {
    pub kind: RunKind,
    /// The operator policy file's `[policy.untrusted]`, and where it was read.
    pub untrusted: Option<(PolicyFields, PathBuf)>,
}

/// The first line of a pipeline text sent to workers when the operator
/// decided trust: workers resolve the plan as the coordinator did.
const WIRE_MARK: &str = "# baton-operator: ";

impl Operator {
    /// `text` as sent to workers: with the operator's settings on a first
    /// line (a TOML comment), unless they are the defaults.
    pub fn wire_text(&self, text: &str) -> String {
        if self.kind == RunKind::Normal && self.untrusted.is_none() {
            return text.to_string();
        }
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{WIRE_MARK}{json}\n{text}")
    }

    /// The operator's settings a pipeline text from the coordinator carries
    /// (the defaults when it carries none).
    pub fn from_wire(text: &str) -> Result<Operator, String> {
        let Some(rest) = text.strip_prefix(WIRE_MARK) else {
            return Ok(Operator::default());
        };
        let line = rest.lines().next().unwrap_or_default();
        serde_json::from_str(line).map_err(|e| format!("the operator settings of the run do not load: {e}"))
    }
}

/// An operator policy file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorFile {
    policy: OperatorPolicy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorPolicy {
    /// `"untrusted"`: every step of every run under this policy is untrusted.
    trust: Option<Trust>,
    untrusted: Option<PolicyFields>,
}

impl Operator {
    /// Reads the operator policy file `path` into `self`: its
    /// `[policy.untrusted]` becomes the ceiling, and `trust = "untrusted"`
    /// forces every step untrusted. Errors name the file and the key.
    pub fn read_policy(&mut self, path: &Path) -> Result<(), String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the policy file {shown}: {e}"))?;
        let file: OperatorFile = toml::from_str(&text).map_err(|e| {
            format!(
                "the policy file {shown} is not valid: {} (it holds `[policy]` with `trust = \"untrusted\"` and `[policy.untrusted]`)",
                e.to_string().trim_end()
            )
        })?;
        match file.policy.trust {
            Some(Trust::Untrusted) if self.kind == RunKind::Normal => self.kind = RunKind::Untrusted,
            Some(Trust::Untrusted) => {}
            Some(Trust::Trusted) => {
                return Err(format!(
                    "the policy file {shown}: `trust = \"trusted\"` cannot be forced (use `untrusted`, or leave `trust` out)"
                ));
            }
            None => {}
        }
        let fields = file.policy.untrusted.unwrap_or_default();
        if fields.trust.is_some() {
            return Err(format!("the policy file {shown}: [policy.untrusted] cannot set `trust`"));
        }
        let mut check = StepPolicy::builtin(Trust::Untrusted);
        let mut errors = Vec::new();
        check.apply(&fields, &mut errors);
        errors.extend(check.conflicts());
        if let Some((key, message)) = errors.first() {
            return Err(format!("the policy file {shown}: policy.untrusted.{key}: {message}"));
        }
        self.untrusted = Some((fields, path.to_path_buf()));
        Ok(())
    }

    /// The ceiling of untrusted steps from an operator policy file: the
    /// built-in untrusted policy with its `[policy.untrusted]` over it.
    /// Without one, the pipeline's own `[policy.untrusted]` is the ceiling
    /// (a forced run still gives no secret).
    pub fn ceiling(&self) -> Option<StepPolicy> {
        let (fields, _) = self.untrusted.as_ref()?;
        let mut caps = StepPolicy::builtin(Trust::Untrusted);
        caps.apply(fields, &mut Vec::new());
        if self.kind.forces_untrusted() {
            caps.secrets.clear();
        }
        Some(caps)
    }

    /// Where the ceiling comes from, for messages.
    pub fn ceiling_source(&self) -> String {
        match &self.untrusted {
            Some((_, path)) => format!("the operator policy {}", path.display()),
            None => "[policy.untrusted] of the pipeline".to_string(),
        }
    }
}

/// What a try run ran: in the report, the HTML page and `baton runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TryInfo {
    /// The trusted base: `git:<commit>` or `tree:<sha256>` of the directory.
    pub base: String,
    /// Hex sha256 of the patch as given.
    pub patch_sha256: String,
    /// Files the patch changes (added, modified, deleted, renamed), sorted.
    pub files: Vec<String>,
    /// Files the patch changes that baton reads as configuration: not used.
    pub ignored: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn a_policy_file_sets_the_ceiling_and_may_force() {
        let (_d, path) =
            write("[policy]\ntrust = \"untrusted\"\n[policy.untrusted]\nspawn = [\"sh\"]\nmemory = \"64MiB\"\n");
        let mut op = Operator::default();
        op.read_policy(&path).expect("valid");
        assert_eq!(op.kind, RunKind::Untrusted);
        let caps = op.ceiling().expect("a ceiling");
        assert_eq!(caps.spawn, ["sh"]);
        assert_eq!(caps.memory, 64 << 20);
    }

    #[test]
    fn workers_get_the_operator_settings_with_the_text() {
        let mut op = Operator { kind: RunKind::Try, ..Default::default() };
        op.untrusted = Some((PolicyFields { spawn: Some(vec!["sh".into()]), ..Default::default() }, "/p".into()));
        let wire = op.wire_text("[pipeline]\n");
        let back = Operator::from_wire(&wire).expect("loads");
        assert_eq!(back.kind, RunKind::Try);
        assert_eq!(back.ceiling().expect("ceiling").spawn, ["sh"]);
        assert_eq!(Operator::default().wire_text("x"), "x");
        assert_eq!(Operator::from_wire("x").expect("plain").kind, RunKind::Normal);
    }

    #[test]
    fn bad_policy_files_name_file_and_key() {
        let (_d, path) = write("[policy.untrusted]\nmemory = \"lots\"\n");
        let e = Operator::default().read_policy(&path).expect_err("bad size");
        assert!(e.contains("policy.toml") && e.contains("policy.untrusted.memory"), "{e}");
        let (_d, path) = write("[policy]\ntrust = \"trusted\"\n");
        assert!(Operator::default().read_policy(&path).is_err());
        let (_d, path) = write("[policy]\nspawn = [\"sh\"]\n");
        assert!(Operator::default().read_policy(&path).is_err(), "only trust and untrusted are read");
    }
}
