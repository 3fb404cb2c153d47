//! Widget identity verification: the host site's backend signs the visitor's user id (or, with
//! no user id, their email) with the chat channel's identity secret, and Parley checks the
//! signature before trusting the identity (docs/api.md "Widget identity").
//!
//! The signature is lower-case hex HMAC-SHA256, keyed with the secret string's bytes as shown to
//! admins (not hex-decoded), over the exact value the widget sends.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The signature of `value` under `secret`, as the host site computes it.
pub fn identity_hash(secret: &str, value: &str) -> String {
    hmac_hex(secret, value.as_bytes())
}

/// Lower-case hex HMAC-SHA256 of `message`, keyed with `secret`'s bytes (also what signs bot
/// webhooks).
pub fn hmac_hex(secret: &str, message: &[u8]) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => String::new(),
    }
}

/// Whether `hash` (hex, either case) signs `value` under `secret`, compared in constant time.
/// An empty secret never verifies, so a channel missing its secret trusts no one.
pub fn identity_verified(secret: &str, value: &str, hash: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Ok(claimed) = hex::decode(hash) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(value.as_bytes());
    mac.verify_slice(&claimed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            identity_hash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_the_right_secret_and_value_verify() {
        let hash = identity_hash("s3cret", "user-42");
        assert!(identity_verified("s3cret", "user-42", &hash));
        assert!(identity_verified("s3cret", "user-42", &hash.to_uppercase()));
        assert!(!identity_verified("s3cret", "user-43", &hash));
        assert!(!identity_verified("other", "user-42", &hash));
        assert!(!identity_verified("s3cret", "user-42", &hash[..62]));
        assert!(!identity_verified("s3cret", "user-42", "not hex"));
        assert!(!identity_verified(
            "",
            "user-42",
            &identity_hash("", "user-42")
        ));
    }
}
