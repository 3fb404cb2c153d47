//! The outbox: replies on channels that send elsewhere (email, Messenger) go out exactly once
//! across nodes. The store writes an outbox row in the same transaction as the reply; one
//! [`worker::OutboxWorker`] per node claims due rows under a lease, sends them through the
//! channel's sender, and records the outcome on the row and on the message, retrying with
//! exponential backoff. See docs/channels-outbox.md.
//!
//! Must not: send anything that has no committed outbox row, or change a row it does not hold.

pub mod email;
pub mod reply_token;
pub mod worker;

use time::OffsetDateTime;

use crate::domain::{AccountId, ChannelId, ChannelKind, ConversationId, Direction, TimelineItemId};

pub use worker::OutboxWorker;

/// A claimed outbox row with the reply it delivers. `attempts` counts this one.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub id: i64,
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub kind: ChannelKind,
    pub item_id: TimelineItemId,
    pub seq: i64,
    pub body: String,
    pub attempts: u32,
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub enum OutboxOutcome {
    /// Delivered; `remote_id` is the Message-ID or the Messenger message id. `email` is the
    /// outbound mail's headers, kept for threading.
    Sent {
        remote_id: String,
        email: Option<OutboundEmail>,
    },
    /// Not delivered this time; try again at `at`.
    Retry { at: OffsetDateTime, error: String },
    /// Given up: a permanent refusal, or the last attempt failed.
    Failed { error: String },
}

/// The headers of a mail Parley sent, stored as an `email_messages` row (direction `out`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEmail {
    /// Without angle brackets, like every id here.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub refs: Vec<String>,
    pub subject: Option<String>,
    pub from_address: Option<String>,
}

/// The threading headers of one email message of a conversation, either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailHeaders {
    pub item_id: TimelineItemId,
    pub direction: Direction,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub refs: Vec<String>,
    pub subject: Option<String>,
    pub from_address: Option<String>,
    pub created_at: OffsetDateTime,
}

/// Why an attempt did not deliver.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt: a refused connection, a timeout, a 4xx answer.
    #[error("{0}")]
    Transient(String),
    /// Will not work however often tried: a 5xx answer, a missing address, bad settings.
    #[error("{0}")]
    Permanent(String),
}
