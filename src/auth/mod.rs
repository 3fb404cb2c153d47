//! Agent credentials: argon2id password hashing, random session and API tokens, and the
//! SHA-256 digests under which the store keeps tokens (a leaked table holds no usable token).
//!
//! Must not: touch HTTP or the store; callers run the slow hashing on a blocking thread.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use sha2::{Digest, Sha256};

use crate::domain::Password;

/// Prefix of login session tokens, so a leaked token says what it is.
pub const SESSION_TOKEN_PREFIX: &str = "pls_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "plt_";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// The argon2id PHC string for a password, with a fresh random salt and the crate's default
/// (OWASP-recommended) cost. Slow by design: call from a blocking thread.
pub fn hash_password(password: &Password) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Whether `password` matches the PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a real password, verified against when an email is unknown so that a failed login
/// takes as long whether or not the account exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        Password::parse("decoy-password-never-used")
            .ok()
            .and_then(|p| hash_password(&p).ok())
            .unwrap_or_default()
    })
}

/// 32 random bytes as lower-case hex.
pub fn random_hex() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// A new token with `prefix`, and the digest to store for it.
pub fn new_token(prefix: &str) -> Result<(String, String), AuthError> {
    let token = format!("{prefix}{}", random_hex()?);
    let digest = token_digest(&token);
    Ok((token, digest))
}

/// What the store keeps for a token: its SHA-256, lower-case hex.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not()
    -> Result<(), Box<dyn std::error::Error>> {
        let password = Password::parse("correct horse battery")?;
        let phc = hash_password(&password)?;
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("anything", "not a phc string"));
        Ok(())
    }

    #[test]
    fn tokens_are_random_and_stored_only_as_digests() -> Result<(), Box<dyn std::error::Error>> {
        let (a, digest_a) = new_token(SESSION_TOKEN_PREFIX)?;
        let (b, _) = new_token(SESSION_TOKEN_PREFIX)?;
        assert_ne!(a, b);
        assert!(a.starts_with(SESSION_TOKEN_PREFIX));
        assert_eq!(digest_a, token_digest(&a));
        assert!(!digest_a.contains(&a[SESSION_TOKEN_PREFIX.len()..]));
        Ok(())
    }
}
