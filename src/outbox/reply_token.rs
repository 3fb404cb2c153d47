//! The reply token in the `Reply-To` address of outbound mail (`sender+TOKEN@domain`): it names
//! the conversation a reply belongs to even when a mail client drops `In-Reply-To`.
//!
//! The token is the conversation id (32 lower-case hex digits) followed by the first 8 bytes of
//! HMAC-SHA256(secret, conversation id bytes) as 16 hex digits: 48 characters, safe in a local
//! part, case-insensitive. Without the secret nobody can make a token for a conversation they
//! do not already have mail from. See docs/channels-outbox.md, "Reply token".

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::domain::ConversationId;

/// Hex digits of the conversation id, then of the tag.
const ID_HEX: usize = 32;
const TAG_BYTES: usize = 8;

/// The token for `conversation` under `secret`.
pub fn reply_token(conversation: ConversationId, secret: &[u8]) -> String {
    let id = conversation.0.simple().to_string();
    format!("{id}{}", hex::encode(tag(conversation.0, secret)))
}

/// The conversation a token was made for, if it is well-formed and its tag is right (checked
/// in constant time). Upper case is accepted: some mail systems change the local part's case.
pub fn conversation_of(token: &str, secret: &[u8]) -> Option<ConversationId> {
    let token = token.trim().to_ascii_lowercase();
    if token.len() != ID_HEX + 2 * TAG_BYTES || !token.is_ascii() {
        return None;
    }
    let (id, given) = token.split_at(ID_HEX);
    let id = Uuid::try_parse(id).ok()?;
    let given = hex::decode(given).ok()?;
    let expected = tag(id, secret);
    bool::from(expected.as_slice().ct_eq(given.as_slice())).then_some(ConversationId(id))
}

fn tag(id: Uuid, secret: &[u8]) -> [u8; TAG_BYTES] {
    let mut out = [0u8; TAG_BYTES];
    // HMAC takes a key of any length; this cannot fail.
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) {
        mac.update(b"parley reply token v1:");
        mac.update(id.as_bytes());
        let full = mac.finalize().into_bytes();
        out.copy_from_slice(&full[..TAG_BYTES]);
    }
    out
}

/// The node's reply-token key (see [`secret_from_settings`]). The emailin connector calls
/// [`conversation_of`] with this.
pub fn secret(settings: &crate::config::Settings) -> Vec<u8> {
    use secrecy::ExposeSecret;
    secret_from_settings(
        settings.outbox.reply_token_secret.expose_secret(),
        settings.store.url.expose_secret(),
    )
}

/// The reply-token key from the `[outbox] reply_token_secret` setting, or, when that is empty,
/// derived from the store URL (shared by every node of a cluster, secret because it carries the
/// database credentials).
pub fn secret_from_settings(configured: &str, store_url: &str) -> Vec<u8> {
    if !configured.is_empty() {
        return configured.as_bytes().to_vec();
    }
    use sha2::Digest;
    let mut hash = Sha256::new();
    hash.update(b"parley reply token key:");
    hash.update(store_url.as_bytes());
    hash.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_token_names_its_conversation_only_under_its_secret() {
        let conversation = ConversationId::new();
        let token = reply_token(conversation, b"secret");
        assert_eq!(token.len(), 48);
        assert_eq!(conversation_of(&token, b"secret"), Some(conversation));
        assert_eq!(
            conversation_of(&token.to_ascii_uppercase(), b"secret"),
            Some(conversation)
        );
        assert_eq!(conversation_of(&token, b"other"), None);
        // Another conversation's id with this tag is refused: the tag binds the id.
        let forged = format!("{}{}", ConversationId::new().0.simple(), &token[32..]);
        assert_eq!(conversation_of(&forged, b"secret"), None);
        assert_eq!(conversation_of(&token[..47], b"secret"), None);
        assert_eq!(conversation_of("", b"secret"), None);
    }
}
