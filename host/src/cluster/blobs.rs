//! Artifacts and plugin bytes in JetStream's object store, named
//! `sha256:<hex>` after their content and verified against that name on
//! every read: a tampered object is refused, whoever wrote it.

use async_nats::jetstream::object_store::{ObjectMetadata, ObjectStore};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::ClusterError;

/// Chunk size of stored objects (fewer, larger messages: measured faster).
const CHUNK: usize = 512 * 1024;

/// The object store bucket of blobs.
#[derive(Clone)]
pub struct Blobs {
    store: ObjectStore,
}

/// Why a blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob digest `{0}`: expected sha256:<64 lowercase hex digits>")]
    BadDigest(String),
    #[error("blob {0} is not in the cluster's object store (was it published by this run?)")]
    NotFound(String),
    #[error("blob {digest} was tampered with in the object store: its content hashes to sha256:{actual}; refused (remove it from bucket `{bucket}` and publish it again)", bucket = super::BLOBS_BUCKET)]
    Tampered { digest: String, actual: String },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn check_digest(digest: &str) -> Result<(), BlobError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(BlobError::BadDigest(digest.to_string()))
    }
}

impl Blobs {
    pub fn new(store: ObjectStore) -> Self {
        Self { store }
    }

    /// Stores `bytes` under their digest, which it returns. Content already
    /// stored (same name, same size) is not uploaded again.
    pub async fn put(&self, bytes: &[u8]) -> Result<String, ClusterError> {
        let digest = digest_of(bytes);
        if let Ok(info) = self.store.info(&digest).await
            && !info.deleted
            && info.size == bytes.len()
        {
            return Ok(digest);
        }
        let meta = ObjectMetadata { name: digest.clone(), chunk_size: Some(CHUNK), ..Default::default() };
        let mut reader = bytes;
        self.store.put(meta, &mut reader).await.map_err(|e| ClusterError::io(format!("put of {digest}"), e))?;
        Ok(digest)
    }

    /// Whether a blob is stored (not checked: reading it checks).
    pub async fn contains(&self, digest: &str) -> Result<bool, BlobError> {
        check_digest(digest)?;
        Ok(self.store.info(digest).await.is_ok_and(|i| !i.deleted))
    }

    /// The bytes of `digest`, refused unless they hash to it.
    pub async fn get(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        check_digest(digest)?;
        use async_nats::jetstream::object_store::GetErrorKind;
        let mut object = match self.store.get(digest).await {
            Ok(o) => o,
            Err(e) if e.kind() == GetErrorKind::NotFound => return Err(BlobError::NotFound(digest.into())),
            Err(e) => return Err(ClusterError::io(format!("get of {digest}"), e).into()),
        };
        let mut bytes = Vec::new();
        if let Err(e) = object.read_to_end(&mut bytes).await {
            // The server's own digest did not match: a corrupt or rewritten object.
            if e.to_string().contains("digest") {
                let actual = hex::encode(Sha256::digest(&bytes));
                return Err(BlobError::Tampered { digest: digest.into(), actual });
            }
            return Err(ClusterError::io(format!("read of {digest}"), e).into());
        }
        let actual = digest_of(&bytes);
        if actual != digest {
            let actual = actual.trim_start_matches("sha256:").to_string();
            return Err(BlobError::Tampered { digest: digest.into(), actual });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(digest_of(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(check_digest(&digest_of(b"x")).is_ok());
        for bad in ["", "sha256:", "md5:00", "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"]
        {
            let err = check_digest(bad).unwrap_err().to_string();
            assert_eq!(err, format!("invalid blob digest `{bad}`: expected sha256:<64 lowercase hex digits>"));
        }
    }
}
