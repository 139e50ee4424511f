//! Who reads and writes which namespace of the step cache.
//!
//! A trust boundary in the key is not enough: an attacker who controls an
//! untrusted run can produce the same key with different bytes (that is how
//! CVE-2025-36852 poisoned Nx's self-hosted caches). So the boundary is in
//! where entries are written: trusted steps of an ordinary run write
//! `trusted`; an untrusted step writes `untrusted`, and every step of a try
//! run writes `try-<id>`. Reads only go down: anything may read `trusted`,
//! and nothing a less trusted step made is ever read by a trusted one.
//! Entries are write-once on top of that, so no one replaces what a trusted
//! run made.

use crate::plan::Trust;

/// What kind of run asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RunKind {
    /// An ordinary run: each step's own trust decides.
    #[default]
    Normal,
    /// A trybot run (`baton try`): every step is untrusted; `id` names its
    /// namespace (anything but letters, digits, `_` and `-` is hashed).
    Try { id: String },
}

/// The namespaces a step reads, in order, and the one it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    pub read: Vec<String>,
    pub write: String,
}

/// The namespace of trusted steps of ordinary runs.
pub const TRUSTED: &str = "trusted";
/// The namespace of untrusted steps of ordinary runs.
pub const UNTRUSTED: &str = "untrusted";

/// The one place that decides where a step reads and writes entries.
pub fn namespaces(trust: Trust, kind: &RunKind) -> Namespaces {
    let own = match (kind, trust) {
        (RunKind::Try { id }, _) => format!("try-{}", safe_id(id)),
        (RunKind::Normal, Trust::Untrusted) => UNTRUSTED.to_string(),
        (RunKind::Normal, Trust::Trusted) => {
            return Namespaces { read: vec![TRUSTED.into()], write: TRUSTED.into() };
        }
    };
    Namespaces { read: vec![TRUSTED.into(), own.clone()], write: own }
}

/// A try id as a file name: kept if plain, else its hash.
fn safe_id(id: &str) -> String {
    let plain =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        id.to_string()
    } else {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(id.as_bytes())[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_steps_read_and_write_trusted_only() {
        let ns = namespaces(Trust::Trusted, &RunKind::Normal);
        assert_eq!(ns.read, vec!["trusted"]);
        assert_eq!(ns.write, "trusted");
    }

    #[test]
    fn untrusted_steps_never_write_trusted() {
        let ns = namespaces(Trust::Untrusted, &RunKind::Normal);
        assert_eq!(ns.read, vec!["trusted", "untrusted"]);
        assert_eq!(ns.write, "untrusted");
        for trust in [Trust::Trusted, Trust::Untrusted] {
            let ns = namespaces(trust, &RunKind::Try { id: "pr-17".into() });
            assert_eq!(ns.read, vec!["trusted", "try-pr-17"]);
            assert_eq!(ns.write, "try-pr-17");
        }
        // A hostile id cannot name a path.
        let ns = namespaces(Trust::Trusted, &RunKind::Try { id: "../trusted".into() });
        assert!(ns.write.starts_with("try-") && !ns.write.contains('/'), "{}", ns.write);
    }
}
