//! Who a worker is, proven by a key rather than by a name anyone can write.
//!
//! The NATS server's buckets and subjects are readable and writable by every
//! client the server lets in, so a name in a message proves nothing. Each
//! `baton worker` process makes an ed25519 signing key when it starts and
//! announces its public half in its heartbeat ([`super::workers`]). The
//! coordinator *pins* that key for the run the first time it places a board
//! on the worker (or first hears from it, when it takes over attempts of a
//! run it resumes), and from then on believes only what that key signed:
//! - the end of an attempt in the attempts bucket ([`super::attempts`]:
//!   `ended` and `given_up` records carry the worker's signature over the
//!   record and the attempt's key, so a forged record is refused and the
//!   attempt fails, naming the reason);
//! - every message on the run's subjects ([`super::wire`]: events, asks,
//!   log pieces, requests for secrets) travels as a [`Signed`] envelope,
//!   and is dropped unless the attempt it names is the signer's.
//!
//! Secrets go the other way sealed ([`seal`], [`unseal`]): the worker makes
//! an X25519 key pair for each claim, sends the public half in its signed
//! request, and the coordinator answers with a libsodium sealed box
//! (X25519 + XSalsa20-Poly1305) only that claim's secret key opens.
//!
//! Signatures are domain-separated by a context string (`baton-end`,
//! `baton-event`, ...), so a signature made for one purpose cannot be
//! replayed as another; every signed body names the attempt it is about.

use crypto_box::aead::OsRng;
use crypto_box::aead::rand_core::RngCore;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What a signature is for (part of the signed bytes).
pub mod context {
    pub const END: &str = "baton-end";
    pub const EVENT: &str = "baton-event";
    pub const ASK: &str = "baton-ask";
    pub const LOG: &str = "baton-log";
    pub const SECRETS: &str = "baton-secrets";
}

/// A worker's signing key (made fresh by each worker process).
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        Self { key: SigningKey::from_bytes(&seed) }
    }

    /// The public key, as announced in heartbeats (64 hex digits).
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The signature of `body` for `context` (128 hex digits).
    pub fn sign(&self, context: &str, body: &[u8]) -> String {
        hex::encode(self.key.sign(&signed_bytes(context, body)).to_bytes())
    }

    /// `body` wrapped with this worker's name and signature.
    pub fn envelope(&self, worker: &str, context: &str, body: Vec<u8>) -> Signed {
        let body = String::from_utf8(body).expect("signed bodies are JSON text");
        Signed { worker: worker.into(), sig: self.sign(context, body.as_bytes()), body }
    }
}

fn signed_bytes(context: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(context.len() + 1 + body.len());
    bytes.extend_from_slice(context.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(body);
    bytes
}

/// Checks `sig` (hex) over `body` for `context` against the public key
/// `public` (hex); the error says what did not hold.
pub fn verify(public: &str, context: &str, body: &[u8], sig: &str) -> Result<(), String> {
    let key: [u8; 32] = hex::decode(public)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "the pinned key is not an ed25519 public key".to_string())?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| "the pinned key is not an ed25519 public key".to_string())?;
    let sig: [u8; 64] = hex::decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "the signature is malformed".to_string())?;
    key.verify(&signed_bytes(context, body), &Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not verify".to_string())
}

/// A message on a run's subjects: its body (JSON), who sent it and their
/// signature of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub worker: String,
    pub body: String,
    pub sig: String,
}

impl Signed {
    /// The body, if `public` signed it for `context`.
    pub fn open(&self, public: &str, context: &str) -> Result<&str, String> {
        verify(public, context, self.body.as_bytes(), &self.sig)?;
        Ok(&self.body)
    }
}

/// A per-claim key pair for receiving secrets.
pub struct SealKey {
    secret: crypto_box::SecretKey,
}

impl SealKey {
    pub fn generate() -> Self {
        Self { secret: crypto_box::SecretKey::generate(&mut OsRng) }
    }

    /// The public half (64 hex digits), sent in the request.
    pub fn public_hex(&self) -> String {
        hex::encode(self.secret.public_key().as_bytes())
    }

    /// Opens a box [`seal`]ed to this key.
    pub fn unseal(&self, sealed_hex: &str) -> Result<Vec<u8>, String> {
        let sealed = hex::decode(sealed_hex).map_err(|_| "the sealed answer is not hex".to_string())?;
        self.secret.unseal(&sealed).map_err(|_| "the sealed answer does not open with this claim's key".to_string())
    }
}

/// `plain` sealed to the X25519 public key `public` (hex): only its secret
/// half opens it.
pub fn seal(public: &str, plain: &[u8]) -> Result<String, String> {
    let key: [u8; 32] = hex::decode(public)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "the request's key is not an X25519 public key".to_string())?;
    let sealed = crypto_box::PublicKey::from_bytes(key)
        .seal(&mut OsRng, plain)
        .map_err(|_| "sealing the answer failed".to_string())?;
    Ok(hex::encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_key_context_and_body() {
        let me = Identity::generate();
        let other = Identity::generate();
        let sig = me.sign(context::END, b"body");
        assert_eq!(verify(&me.public_hex(), context::END, b"body", &sig), Ok(()));
        let bad = Err("the signature does not verify".to_string());
        assert_eq!(verify(&other.public_hex(), context::END, b"body", &sig), bad);
        assert_eq!(verify(&me.public_hex(), context::EVENT, b"body", &sig), bad);
        assert_eq!(verify(&me.public_hex(), context::END, b"bodY", &sig), bad);
        assert_eq!(verify(&me.public_hex(), context::END, b"body", "zz"), Err("the signature is malformed".into()));
        let env = me.envelope("w1", context::ASK, b"{}".to_vec());
        assert_eq!(env.open(&me.public_hex(), context::ASK), Ok("{}"));
        assert!(env.open(&other.public_hex(), context::ASK).is_err());
    }

    #[test]
    fn a_sealed_answer_opens_only_with_its_claims_key() {
        let claim = SealKey::generate();
        let other = SealKey::generate();
        let sealed = seal(&claim.public_hex(), b"TOKEN=1").unwrap();
        assert!(!sealed.contains(&hex::encode("TOKEN=1")));
        assert_eq!(claim.unseal(&sealed).unwrap(), b"TOKEN=1");
        assert!(other.unseal(&sealed).is_err());
        assert!(seal("nothex", b"x").is_err());
    }
}
