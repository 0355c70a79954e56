//! Passwords: argon2id (the algorithm's recommended parameters), stored as a
//! PHC string that carries its own salt and parameters, so that stronger
//! parameters later still verify old hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shorter passwords are refused.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer ones too: hashing a megabyte for every login attempt is an easy way
/// to keep a server busy.
const MAX_PASSWORD_BYTES: usize = 1024;
/// Bytes of random salt.
const SALT_BYTES: usize = 16;

/// A well-formed hash (same parameters as new ones) that no password is known
/// to match: verified against when there is no account.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2xpcHdheWRlY295c2FsdA$\
                     I5sq5lOb6Pz0KYkrqmb1fH0bLx5tCk0MPDhFqm5yOsE";

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,

    #[error("the password is too long: use at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,

    #[error("hashing the password failed: {0}")]
    Hashing(String),

    #[error("reading random bytes from /dev/urandom failed: {0}")]
    Random(#[source] std::io::Error),
}

/// The PHC string of a new password, after checking its length.
pub fn hash_password(password: &str) -> Result<String, AccessError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccessError::PasswordTooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccessError::PasswordTooLong);
    }
    let mut salt = [0u8; SALT_BYTES];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut salt))
            .map_err(AccessError::Random)?;
    }
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccessError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccessError::Hashing(e.to_string()))
}

/// Whether `password` matches the stored hash. `None` as the hash (no such
/// account) still does the work of one verification, so that a login attempt
/// takes as long whether the account exists or not.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(DECOY)) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_others_do_not() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("correct hors", Some(&hash)));
        assert!(!verify_password("", Some(&hash)));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse").unwrap());
    }

    #[test]
    fn short_and_huge_passwords_are_refused_with_the_rule() {
        let error = hash_password("seven77").unwrap_err().to_string();
        assert!(error.contains("at least 8 characters"), "{error}");
        // Characters, not bytes: eight accented letters are enough.
        assert!(hash_password("éééééééé").is_ok());
        let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hash_password(&huge),
            Err(AccessError::PasswordTooLong)
        ));
        assert!(!verify_password(&huge, None));
    }

    #[test]
    fn no_account_never_verifies_and_a_damaged_hash_neither() {
        // The decoy parses, so an unknown login costs a full verification.
        let decoy = PasswordHash::new(DECOY).unwrap();
        let fresh = hash_password("parameters of today").unwrap();
        assert_eq!(decoy.params, PasswordHash::new(&fresh).unwrap().params);
        assert!(!verify_password("anything at all", None));
        assert!(!verify_password("anything at all", Some("not a hash")));
    }
}
