//! Facebook Messenger: the webhook's events (see `src/http/messenger.rs`), its signature, and
//! replies through the Send API (delivered by the outbox).
//!
//! Must not: store anything from a webhook call whose signature is missing or wrong.

pub mod send;
pub mod webhook;

use time::OffsetDateTime;

use crate::domain::{Body, ChannelId, Contact, Conversation, Direction, Name, TimelineItem};

/// The contact property holding a Messenger user's page-scoped id (PSID).
pub const PSID_PROPERTY: &str = "messenger_psid";

/// Facebook lets a page answer a user only this long after the user's last message.
pub const REPLY_WINDOW: time::Duration = time::Duration::hours(24);

/// One event to store: a user's message or postback (`In`), or an echo of a message the page
/// sent from elsewhere (`Out`, stored as sent and never sent again).
#[derive(Debug, Clone)]
pub struct MessengerInbound {
    pub channel_id: ChannelId,
    /// Facebook's message id; a postback has none, so the webhook makes one from its payload
    /// and timestamp.
    pub mid: String,
    /// The user's PSID (for an echo, the recipient).
    pub psid: String,
    pub body: Body,
    pub direction: Direction,
    pub name: Option<Name>,
}

/// What `store_messenger_event` stored.
#[derive(Debug, Clone)]
pub struct MessengerStored {
    pub contact: Contact,
    pub conversation: Conversation,
    /// The conversation was opened by this event.
    pub conversation_created: bool,
    pub item: TimelineItem,
}

/// Whether a reply now may still go out, given when the contact last wrote.
pub fn within_reply_window(last_contact_message: Option<OffsetDateTime>) -> bool {
    last_contact_message.is_some_and(|at| OffsetDateTime::now_utc() - at <= REPLY_WINDOW)
}
