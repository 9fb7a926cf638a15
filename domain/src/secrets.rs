//! Encryption of account secrets at rest (XChaCha20-Poly1305) and the key that protects them.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};

use crate::{Error, Result};

/// The prefix of a sealed value: names the format so a later cipher can coexist.
const VERSION: &str = "v1:";

/// The 256-bit key that seals account secrets. Its `Debug` never prints the key.
#[derive(Clone)]
pub struct SecretKey(chacha20poly1305::Key);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> SecretKey {
        SecretKey(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Reads a key written as 32 bytes in standard Base64 (as `FERRY_SECRET_KEY` holds it).
    ///
    /// # Errors
    /// [`Error::Config`] when the text is not Base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<SecretKey> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| Error::Config("the secret key is not valid Base64".into()))?;
        if bytes.len() != 32 {
            return Err(Error::Config(format!(
                "the secret key must be 32 bytes, not {}",
                bytes.len()
            )));
        }
        Ok(SecretKey(*chacha20poly1305::Key::from_slice(&bytes)))
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_slice())
    }

    /// Reads the key file, or creates it with a new key, readable only by its owner (0600).
    /// Creation is atomic (`create_new`), so two processes starting at once agree on one key.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or written, or holds no valid key.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                return Self::from_base64(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                writeln!(file, "{}", key.to_base64())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(Error::Config(format!(
                "cannot create {}: {e}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (the owning record's id) so a sealed value
    /// copied onto another record does not open.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&self.0);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{VERSION}{}", BASE64.encode(bytes))
    }

    /// Decrypts what [`SecretKey::seal`] produced for the same `context`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the value was altered, belongs to another record or was sealed
    /// with another key.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>> {
        let corrupt = || {
            Error::Corrupt(
                "a stored secret cannot be decrypted (was FERRY_SECRET_KEY or the key file changed?)"
                    .into(),
            )
        };
        let body = sealed.strip_prefix(VERSION).ok_or_else(corrupt)?;
        let bytes = BASE64.decode(body).map_err(|_| corrupt())?;
        if bytes.len() < 24 {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        XChaCha20Poly1305::new(&self.0)
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| corrupt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_reveal_nothing() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"hunter2-password", "account-1");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open(&sealed, "account-1").unwrap(), b"hunter2-password");
        // A new nonce every time: the same secret never looks the same twice.
        assert_ne!(sealed, key.seal(b"hunter2-password", "account-1"));
    }

    #[test]
    fn the_wrong_key_context_or_a_changed_byte_does_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"secret", "account-1");
        assert!(key.open(&sealed, "account-2").is_err());
        assert!(SecretKey::generate().open(&sealed, "account-1").is_err());
        let mut bytes = BASE64.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("v1:{}", BASE64.encode(bytes));
        assert!(matches!(
            key.open(&altered, "account-1"),
            Err(Error::Corrupt(_))
        ));
        assert!(key.open("v1:short", "account-1").is_err());
        assert!(key.open("plain text", "account-1").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_with_owner_only_access() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = SecretKey::load_or_create(&path).unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(first.to_base64(), again.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not base64!").unwrap();
        let e = SecretKey::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("secret.key") && e.contains("Base64"), "{e}");
        assert!(SecretKey::from_base64(&BASE64.encode([0u8; 16])).is_err());
    }
}
