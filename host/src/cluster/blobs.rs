//! Artifacts and plugin bytes in JetStream's object store, named
//! `sha256:<hex>` after their content and verified against that name on
//! every read: a tampered object is refused, whoever wrote it, and a put
//! replaces an object of the right name whose bytes do not hash to it (it
//! is never an availability trap). Artifacts and step logs stream in both
//! directions ([`Blobs::put_file`], [`Blobs::get_to_file`]): a worker or a
//! coordinator holds a piece of a blob at a time, not the whole.

use async_nats::jetstream::object_store::{ObjectMetadata, ObjectStore};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

use tokio::io::AsyncReadExt;

use super::ClusterError;

/// Chunk size of stored objects (fewer, larger messages: measured faster).
const CHUNK: usize = 512 * 1024;

/// The piece a blob is read and hashed in (a blob is never whole in memory
/// unless asked for by [`Blobs::get`]).
const BUF: usize = 256 * 1024;

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
    /// stored (its bytes hash to its name) is not uploaded again; an object
    /// of that name whose bytes do not is replaced.
    pub async fn put(&self, bytes: &[u8]) -> Result<String, ClusterError> {
        let digest = digest_of(bytes);
        if self.holds(&digest).await {
            return Ok(digest);
        }
        let meta = ObjectMetadata { name: digest.clone(), chunk_size: Some(CHUNK), ..Default::default() };
        let mut reader = bytes;
        self.store.put(meta, &mut reader).await.map_err(|e| ClusterError::io(format!("put of {digest}"), e))?;
        Ok(digest)
    }

    /// Stores the file at `path` under its digest, read in pieces (never
    /// whole in memory), as [`Blobs::put`] does; `expected`: the digest it
    /// must have (a file changed meanwhile is refused).
    pub async fn put_file(&self, path: &Path, expected: Option<&str>) -> Result<String, ClusterError> {
        let shown = path.display().to_string();
        let io = |e: std::io::Error| ClusterError::io(format!("reading {shown}"), e);
        let digest = {
            let mut file = tokio::fs::File::open(path).await.map_err(io)?;
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; BUF];
            loop {
                let n = file.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
            format!("sha256:{}", hex::encode(hash.finalize()))
        };
        if let Some(expected) = expected.filter(|e| *e != digest) {
            return Err(ClusterError::Invalid(format!("{shown} does not hash to {expected} (it is {digest})")));
        }
        if self.holds(&digest).await {
            return Ok(digest);
        }
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let meta = ObjectMetadata { name: digest.clone(), chunk_size: Some(CHUNK), ..Default::default() };
        self.store.put(meta, &mut file).await.map_err(|e| ClusterError::io(format!("put of {digest}"), e))?;
        // The file may have changed while it was sent: the object must hash to its name.
        if !self.holds(&digest).await {
            return Err(ClusterError::Invalid(format!("{shown} changed while it was stored; try again")));
        }
        Ok(digest)
    }

    /// Whether an object named `digest` is stored and its bytes hash to it
    /// (read through, in pieces: a planted object of the right size does
    /// not pass for the real one).
    async fn holds(&self, digest: &str) -> bool {
        match self.store.info(digest).await {
            Ok(info) if !info.deleted => self.stream(digest, |_| Ok(())).await.is_ok(),
            _ => false,
        }
    }

    /// Whether a blob is stored (not checked: reading it checks).
    pub async fn contains(&self, digest: &str) -> Result<bool, BlobError> {
        check_digest(digest)?;
        Ok(self.store.info(digest).await.is_ok_and(|i| !i.deleted))
    }

    /// The bytes of `digest`, refused unless they hash to it (for small
    /// blobs: pipeline text, plugins; artifacts go through
    /// [`Blobs::get_to_file`]).
    pub async fn get(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        let mut bytes = Vec::new();
        self.stream(digest, |piece| {
            bytes.extend_from_slice(piece);
            Ok(())
        })
        .await?;
        Ok(bytes)
    }

    /// Writes blob `digest` into a new file at `dest` (through a temporary
    /// file beside it, in pieces), refused unless its bytes hash to it.
    pub async fn get_to_file(&self, digest: &str, dest: &Path) -> Result<(), BlobError> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        let io = |e: std::io::Error| ClusterError::io(format!("writing blob {digest} into {}", dest.display()), e);
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        self.stream(digest, |piece| tmp.write_all(piece)).await?;
        tmp.persist(dest).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Reads blob `digest` in pieces into `sink`; an error unless the
    /// bytes hash to the name.
    async fn stream(&self, digest: &str, mut sink: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<(), BlobError> {
        check_digest(digest)?;
        use async_nats::jetstream::object_store::GetErrorKind;
        let mut object = match self.store.get(digest).await {
            Ok(o) => o,
            Err(e) if e.kind() == GetErrorKind::NotFound => return Err(BlobError::NotFound(digest.into())),
            Err(e) => return Err(ClusterError::io(format!("get of {digest}"), e).into()),
        };
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; BUF];
        loop {
            match object.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    hash.update(&buf[..n]);
                    sink(&buf[..n]).map_err(|e| ClusterError::io(format!("writing blob {digest}"), e))?;
                }
                // The server's own digest did not match: a corrupt or rewritten object.
                Err(e) if e.to_string().contains("digest") => {
                    let actual = hex::encode(hash.finalize());
                    return Err(BlobError::Tampered { digest: digest.into(), actual });
                }
                Err(e) => return Err(ClusterError::io(format!("read of {digest}"), e).into()),
            }
        }
        let actual = hex::encode(hash.finalize());
        if format!("sha256:{actual}") != digest {
            return Err(BlobError::Tampered { digest: digest.into(), actual });
        }
        Ok(())
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
