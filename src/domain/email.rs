//! Inbound email as the store keeps it: a parsed mail ready to import (threading hints
//! included), the attachments kept with it, and mail held out of the inbox for admins.
//!
//! The parsing itself lives in `channels::email`; these records hold checked values only.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::*;

/// One inbound mail, parsed, to become (or join) a conversation in one transaction.
#[derive(Debug, Clone)]
pub struct InboundEmail {
    /// The email channel it arrived on (for the fallback address: the inbox's first email
    /// channel).
    pub channel_id: ChannelId,
    pub from_address: EmailAddress,
    /// From the `From` header's display name; used only for a new contact.
    pub from_name: Option<Name>,
    /// Without angle brackets; made up from the raw bytes' digest when the mail has none.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// Oldest first, without angle brackets.
    pub references: Vec<String>,
    pub subject: Option<String>,
    /// The conversation named by a valid reply token in To/Cc, if any.
    pub token_conversation: Option<ConversationId>,
    /// The message item's body: the text without the quoted history.
    pub visible: Body,
    /// The whole plain text, quoted history included.
    pub text: String,
    /// Sanitized HTML, for display.
    pub html: Option<String>,
    pub raw: Vec<u8>,
    pub attachments: Vec<NewAttachment>,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub enum EmailImport {
    /// Stored: the conversation (new or threaded), its contact, and the message item.
    Imported {
        conversation: Box<Conversation>,
        created_conversation: bool,
        contact: Box<Contact>,
        item: Box<TimelineItem>,
    },
    /// A mail with this Message-ID was already imported in the account; nothing written.
    Duplicate,
}

/// Why mail was kept out of the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldReason {
    /// Could not be imported (unparseable, no sender, too big).
    Failed,
    /// Sender or their domain is on the inbox's block list.
    Blocked,
    AutoReply,
    Bounce,
}

impl HeldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::AutoReply => "auto_reply",
            Self::Bounce => "bounce",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "failed" => Self::Failed,
            "blocked" => Self::Blocked,
            "auto_reply" => Self::AutoReply,
            "bounce" => Self::Bounce,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewHeldMail {
    pub inbox_id: InboxId,
    pub channel_id: Option<ChannelId>,
    pub reason: HeldReason,
    pub detail: String,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub raw: Vec<u8>,
}

/// Mail kept out of the inbox, as admins review it (the raw message is fetched separately).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeldMail {
    pub id: Uuid,
    pub account_id: AccountId,
    pub inbox_id: InboxId,
    pub channel_id: Option<ChannelId>,
    pub reason: HeldReason,
    /// Why, in words (the parse error, the filter that matched).
    pub detail: String,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// Size of the raw message in bytes.
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Where an email channel's IMAP import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapPosition {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// A subject as threading compares it: reply and forward prefixes (`Re:`, `AW:`, `SV:`,
/// `Fwd:`, `[External]`-style tags are kept) stripped repeatedly, whitespace collapsed,
/// lower-cased.
pub fn normalize_subject(subject: &str) -> String {
    const PREFIXES: &[&str] = &[
        "re", "aw", "sv", "vs", "fw", "fwd", "wg", "tr", "antw", "ref", "rif", "odp",
    ];
    let mut rest = subject.trim();
    while let Some((head, tail)) = rest.split_once(':') {
        // "Re[2]:" and "RE :" count as prefixes too.
        let word = head.trim();
        let word = word.split('[').next().unwrap_or(word).trim();
        if PREFIXES.iter().any(|p| word.eq_ignore_ascii_case(p)) {
            rest = tail.trim_start();
        } else {
            break;
        }
    }
    rest.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize_subject;

    #[test]
    fn reply_prefixes_of_common_clients_are_stripped() {
        assert_eq!(normalize_subject("Re: AW: SV:  Order  42"), "order 42");
        assert_eq!(normalize_subject("RE[2]: Fwd: Order 42"), "order 42");
        assert_eq!(normalize_subject("Order 42"), "order 42");
        assert_eq!(normalize_subject("Question: refunds"), "question: refunds");
    }
}
