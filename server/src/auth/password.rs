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

/// Passwords of [`MIN_PASSWORD`]+ characters that lists of leaked passwords put near the top, or
/// that a guesser tries first on this product. Compared without case.
const COMMON: &[&str] = &[
    "123456789012", "1234567890123", "12345678901234", "123456789abc", "1234567890ab",
    "abc123456789", "abcdefghijkl", "qwerty123456", "qwertyuiop12", "qwertyuiopas",
    "qwertyqwerty", "1q2w3e4r5t6y", "1qaz2wsx3edc", "asdfghjkl123", "zxcvbnm12345",
    "password1234", "password123!", "password12345", "passwordpassword", "passw0rd1234",
    "p@ssw0rd1234", "p@ssword1234", "iloveyou1234", "letmein12345", "welcome12345",
    "welcome123!!", "changeme1234", "changeme123!", "administrator", "admin1234567",
    "adminadmin12", "admin@123456", "trustno1trustno1", "football1234", "baseball1234",
    "monkey123456", "dragon123456", "sunshine1234", "princess1234", "superman1234",
    "starwars1234", "michael12345", "000000000000", "111111111111", "123123123123",
    "migboard1234", "migboard-admin", "migboardadmin", "kubernetes123", "nvidia123456",
];

/// Checks a new password: [`MIN_PASSWORD`] to 1024 characters, not one character repeated, not a
/// common one.
pub(super) fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD || password.len() > 1024 {
        return Err(AccountError::Invalid(format!(
            "the password must have {MIN_PASSWORD} to 1024 characters"
        )));
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(AccountError::Invalid(
            "the password is one character repeated: choose a passphrase of a few words".into(),
        ));
    }
    if COMMON.iter().any(|c| c.eq_ignore_ascii_case(password)) {
        return Err(AccountError::Invalid(
            "the password is among the most common ones and would be guessed first: choose a passphrase of a few words".into(),
        ));
    }
    Ok(())
}
