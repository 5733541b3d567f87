//! Passwords: argon2id hashes, a decoy for unknown users (so a wrong name takes as long as a wrong
//! password), and the length rule.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::{AccountError, MIN_PASSWORD};
use crate::audit::random_token;

/// Hashes a password with argon2id (a fresh salt, the crate's default cost: 19 MiB, 2 passes).
///
/// # Errors
/// When the hasher fails (it does not for passwords of sane length).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches the stored PHC string.
#[must_use]
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, verified against when the user does not exist so that an unknown
/// name takes as long to refuse as a wrong password.
pub(super) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token().unwrap_or_default()).unwrap_or_default())
}

pub(super) fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD || password.len() > 1024 {
        return Err(AccountError::Invalid(format!(
            "the password must have {MIN_PASSWORD} to 1024 characters"
        )));
    }
    Ok(())
}
