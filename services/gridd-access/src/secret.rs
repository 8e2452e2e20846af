//! Secrets: random tokens, hashes of machine keys and refresh tokens (compared in constant
//! time), and Argon2id password hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::error::AccessError;

/// Shortest password accepted for an account.
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted (Argon2 would take more, but nobody types more).
pub const MAX_PASSWORD: usize = 256;

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, AccessError> {
    let mut bytes = vec![0; n];
    SystemRandom::new().fill(&mut bytes).map_err(|_| AccessError::Unavailable("the system random source failed".into()))?;
    Ok(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A random token of `n` bytes, in hex.
pub fn random_token(n: usize) -> Result<String, AccessError> {
    random_bytes(n).map(|b| hex(&b))
}

/// SHA-256 of `secret`, in hex: how machine keys and refresh tokens are stored. They are
/// 256-bit random values, so a fast hash is enough (a password needs Argon2).
pub fn token_hash(secret: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn token_matches(secret: &str, stored: &str) -> bool {
    token_hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

/// Checks a new password's length.
pub fn check_password_rules(password: &str) -> Result<(), AccessError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AccessError::invalid("password", format!("must be at least {MIN_PASSWORD} characters")));
    }
    if n > MAX_PASSWORD {
        return Err(AccessError::invalid("password", format!("must be at most {MAX_PASSWORD} characters")));
    }
    Ok(())
}

/// The Argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, AccessError> {
    let salt = SaltString::encode_b64(&random_bytes(16)?).map_err(|e| AccessError::Unavailable(format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Unavailable(format!("hashing the password: {e}")))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash matches nothing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash no password matches, verified for unknown user names so that a wrong name takes as
/// long as a wrong password and the answer does not tell which accounts exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&hex(&[0x5a; 32])).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert_ne!(hash, hash_password("correct horse").expect("hash"), "salted");
    }

    #[test]
    fn token_hashes_match_only_their_token() {
        let token = random_token(32).expect("token");
        assert_eq!(token.len(), 64);
        let stored = token_hash(&token);
        assert!(token_matches(&token, &stored));
        assert!(!token_matches(&random_token(32).expect("token"), &stored));
        assert!(!token_matches(&token, ""));
    }

    #[test]
    fn password_rules_name_the_field() {
        let e = check_password_rules("short").expect_err("too short");
        assert_eq!(e.to_string(), "password: must be at least 8 characters");
        assert!(check_password_rules("long enough").is_ok());
    }
}
