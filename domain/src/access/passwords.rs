//! Password rules and Argon2id hashing; hashing runs on the blocking pool, never on the async
//! threads that serve requests.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{Error, Result};

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

/// Passwords long enough to pass the length rule that are still among the most guessed.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// Argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's baseline).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the password rules: 12 to 128 characters, not a common password, not the email.
///
/// # Errors
/// [`Error::Invalid`] with a message saying which rule failed.
pub fn validate(password: &str, email: &str) -> Result<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::Invalid(format!(
            "The password must have at least {MIN_LENGTH} characters."
        )));
    }
    if length > MAX_LENGTH {
        return Err(Error::Invalid(format!(
            "The password must have at most {MAX_LENGTH} characters."
        )));
    }
    let lowered = password.to_lowercase();
    let email = email.trim().to_lowercase();
    let local_part = email.split('@').next().unwrap_or_default();
    if COMMON_PASSWORDS
        .lines()
        .any(|common| common.trim() == lowered)
        || lowered.chars().all(|c| lowered.starts_with(c))
    {
        return Err(Error::Invalid(
            "This password is too common; choose another.".into(),
        ));
    }
    if !email.is_empty()
        && (lowered == email || (local_part.len() >= 4 && lowered.contains(local_part)))
    {
        return Err(Error::Invalid(
            "The password must not contain your email address.".into(),
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string.
///
/// # Errors
/// [`Error::Corrupt`] if hashing fails (it does not for valid parameters).
pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Corrupt(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Corrupt(format!("password hashing task failed: {e}")))?
}

/// Verifies a password against a stored hash, or against a dummy hash when there is none, so
/// an unknown account takes as long to reject as a wrong password.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let known = stored.is_some();
    let result = tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false);
    known && result
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(b"ferry dummy password for timing", &salt)
            .expect("hash the dummy password")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_count_characters_not_bytes() {
        assert!(validate("short-pass1", "a@b.co").is_err());
        assert!(validate("correct horse battery", "a@b.co").is_ok());
        assert!(
            validate("ééééééééééé1", "a@b.co").is_ok(),
            "12 characters, 23 bytes"
        );
        assert!(validate(&"x1".repeat(64), "a@b.co").is_ok());
        let err = validate(&"x1".repeat(65), "a@b.co").unwrap_err();
        assert_eq!(
            err.to_string(),
            "The password must have at most 128 characters."
        );
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        assert!(validate("password1234", "a@b.co").is_err());
        assert!(
            validate("Password1234", "a@b.co").is_err(),
            "case does not make it uncommon"
        );
        assert!(validate("aaaaaaaaaaaaaaa", "a@b.co").is_err());
        assert!(validate("maria.lopez2024!", "maria.lopez@example.com").is_err());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash("correct horse battery".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify("correct horse battery".into(), Some(hash.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(hash)).await);
        assert!(
            !verify("anything at all".into(), None).await,
            "no account never verifies"
        );
    }
}
