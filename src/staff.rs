//! Staff accounts apart from storage: Argon2id password hashing and verification, and the rules
//! for names and passwords that `concord staff add` and the console's login apply.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use rand::TryRngCore;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StaffError {
    #[error("a staff name is 1-64 letters, digits, dots, dashes or underscores, got `{0}`")]
    BadName(String),
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Checks a staff name (it appears in the audit log and on replies).
pub fn validate_name(name: &str) -> Result<(), StaffError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(StaffError::BadName(name.to_string()))
    }
}

/// An Argon2id hash of `password` in PHC format, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffError::ShortPassword);
    }
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| StaffError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StaffError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

/// Whether `password` matches a stored hash (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the name is unknown, so that a wrong name takes as long as a
/// wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("not-a-real-password").expect("hashing works"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_salted() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert_ne!(h, hash_password("correct horse battery").unwrap());
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn short_passwords_and_odd_names_are_refused() {
        assert_eq!(hash_password("short"), Err(StaffError::ShortPassword));
        assert!(validate_name("anna.kowalska").is_ok());
        assert!(validate_name("Łucja_2").is_ok());
        for bad in ["", "a b", "x<script>", &"n".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
