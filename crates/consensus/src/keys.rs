//! Ed25519 identity keys: generation, hex encoding and key files.
//!
//! The same key identifies a node on the p2p network and signs its consensus votes (validators).
//! Private keys are 32-byte ed25519 seeds, public keys 32-byte compressed points; both are written
//! as lowercase hex (no `0x`, although `0x` is accepted when reading).

use std::path::Path;

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
pub use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use rand::RngCore as _;

use crate::Error;

/// Raw bytes of an ed25519 public key (what the executor sees as the block proposer).
pub type PublicKeyBytes = [u8; 32];

/// Generate a fresh private key from the operating system's entropy.
pub fn generate_private_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    // Any 32 bytes are a valid ed25519 seed.
    PrivateKey::decode(seed.to_vec())
        .unwrap_or_else(|_| unreachable!("32-byte seed always decodes"))
}

/// The public key of `key`.
pub fn public_key(key: &PrivateKey) -> PublicKey {
    key.public_key()
}

/// The raw bytes of `key`.
pub fn public_key_bytes(key: &PublicKey) -> PublicKeyBytes {
    let mut out = [0u8; 32];
    out.copy_from_slice(key.as_ref());
    out
}

fn strip(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix("0x").unwrap_or(s)
}

/// Hex-encode a private key (64 hex characters).
pub fn private_key_to_hex(key: &PrivateKey) -> String {
    hex::encode(key.encode())
}

/// Decode a private key from hex (64 hex characters, optional `0x`).
pub fn private_key_from_hex(s: &str) -> Result<PrivateKey, Error> {
    let bytes = hex::decode(strip(s)).map_err(|e| Error::InvalidKey(e.to_string()))?;
    if bytes.len() != 32 {
        return Err(Error::InvalidKey(format!(
            "private key must be 32 bytes, got {}",
            bytes.len()
        )));
    }
    PrivateKey::decode(bytes).map_err(|e| Error::InvalidKey(e.to_string()))
}

/// Hex-encode a public key (64 hex characters).
pub fn public_key_to_hex(key: &PublicKey) -> String {
    hex::encode(key.as_ref())
}

/// Decode a public key from hex (64 hex characters, optional `0x`); rejects invalid points.
pub fn public_key_from_hex(s: &str) -> Result<PublicKey, Error> {
    let bytes = hex::decode(strip(s)).map_err(|e| Error::InvalidKey(e.to_string()))?;
    public_key_from_bytes(&bytes)
}

/// Decode a public key from its 32 raw bytes; rejects invalid points.
pub fn public_key_from_bytes(bytes: &[u8]) -> Result<PublicKey, Error> {
    if bytes.len() != 32 {
        return Err(Error::InvalidKey(format!(
            "public key must be 32 bytes, got {}",
            bytes.len()
        )));
    }
    PublicKey::decode(bytes.to_vec()).map_err(|e| Error::InvalidKey(e.to_string()))
}

/// Write `key` as hex (plus a newline) to `path`, creating parent directories. On Unix the file
/// is created with mode 0600.
pub fn write_key_file(path: &Path, key: &PrivateKey) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(path.display().to_string(), e))?;
    }
    let contents = format!("{}\n", private_key_to_hex(key));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    use std::io::Write as _;
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| Error::Io(path.display().to_string(), e))
}

/// Read a private key written by [`write_key_file`] (hex, surrounding whitespace ignored).
pub fn read_key_file(path: &Path) -> Result<PrivateKey, Error> {
    let contents =
        std::fs::read_to_string(path).map_err(|e| Error::Io(path.display().to_string(), e))?;
    private_key_from_hex(&contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_file_roundtrip() {
        let key = generate_private_key();
        let hex = private_key_to_hex(&key);
        assert_eq!(hex.len(), 64);
        assert_eq!(
            public_key(&private_key_from_hex(&format!("0x{hex}")).expect("hex")),
            public_key(&key)
        );
        let pk = public_key(&key);
        assert_eq!(
            public_key_from_hex(&public_key_to_hex(&pk)).expect("pk"),
            pk
        );
        assert_eq!(
            public_key_from_bytes(&public_key_bytes(&pk)).expect("pk"),
            pk
        );
        assert!(private_key_from_hex("abcd").is_err());
        assert!(public_key_from_hex("zz").is_err());

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/key.hex");
        write_key_file(&path, &key).expect("write");
        assert_eq!(
            public_key(&read_key_file(&path).expect("read")),
            public_key(&key)
        );
        assert_ne!(public_key(&generate_private_key()), public_key(&key));
    }
}
