//! Reply tokens: a reply address `sender+TOKEN@domain` names its conversation, so a reply from
//! a client that drops In-Reply-To and References (some Outlook versions) still threads. The
//! token is the outbox's (`crate::outbox::reply_token`), which puts it in every reply's
//! `Reply-To`; [`token_conversation`] is the one place inbound mail reads it.

use crate::domain::ConversationId;
use crate::outbox::reply_token::conversation_of;

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
        let token = crate::outbox::reply_token::reply_token(id, b"secret");
        let address = format!("support+{token}@example.com");
        assert_eq!(token_conversation([address.as_str()], b"secret"), Some(id));
        assert_eq!(token_conversation([address.as_str()], b"other"), None);
        assert_eq!(token_conversation(["support@example.com"], b"secret"), None);
    }
}
