//! Reply tokens: a reply address `sender+TOKEN@domain` names its conversation, so a reply from
//! a client that drops In-Reply-To and References (some Outlook versions) still threads.
//!
//! `conversation_of` has the signature of the outbox's `src/outbox/reply_token.rs`; until that
//! lands this local one stands in, and [`token_conversation`] is the one place that calls it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::domain::ConversationId;

type HmacSha256 = Hmac<Sha256>;

/// Hex digits of the MAC kept in a token: 64 bits, enough that guessing one is hopeless.
const MAC_HEX: usize = 16;

/// The token for a conversation: its id (32 hex digits) and a truncated HMAC of it.
pub fn token_for(conversation: ConversationId, secret: &[u8]) -> Option<String> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(conversation.0.as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    Some(format!("{}{}", conversation.0.simple(), &digest[..MAC_HEX]))
}

/// The conversation a token names, when its MAC is right under `secret`.
pub fn conversation_of(token: &str, secret: &[u8]) -> Option<ConversationId> {
    if secret.is_empty() || token.len() != 32 + MAC_HEX || !token.is_ascii() {
        return None;
    }
    let (id, claimed) = token.split_at(32);
    let id = Uuid::parse_str(id).ok()?;
    let claimed = hex::decode(claimed.to_ascii_lowercase()).ok()?;
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(id.as_bytes());
    mac.verify_truncated_left(&claimed).ok()?;
    Some(ConversationId(id))
}

/// The tag of a `local+TAG@domain` address, if any.
pub fn plus_tag(address: &str) -> Option<&str> {
    let (local, _) = address.rsplit_once('@')?;
    let (_, tag) = local.split_once('+')?;
    (!tag.is_empty()).then_some(tag)
}

/// The conversation named by the first recipient carrying a valid reply token.
pub fn token_conversation<'a>(
    recipients: impl IntoIterator<Item = &'a str>,
    secret: &[u8],
) -> Option<ConversationId> {
    recipients
        .into_iter()
        .filter_map(plus_tag)
        .find_map(|tag| conversation_of(tag, secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_token_names_its_conversation_only_under_its_secret() {
        let id = ConversationId::new();
        let token = token_for(id, b"secret").unwrap();
        assert_eq!(conversation_of(&token, b"secret"), Some(id));
        assert_eq!(conversation_of(&token, b"other"), None);
        let mut forged = token.clone();
        forged.replace_range(40.., "0000000000000000");
        assert_eq!(conversation_of(&forged, b"secret"), None);
        let address = format!("support+{token}@example.com");
        assert_eq!(token_conversation([address.as_str()], b"secret"), Some(id));
    }
}
