//! Typed identifiers. Every row has a UUIDv7 id: time-ordered, so keyset paging by id returns rows
//! in creation order on both store backends, and ids never reveal row counts.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type! {
    /// A tenant.
    AccountId,
    /// A person on a team.
    AgentId,
    /// A group of agents.
    TeamId,
    /// A named shared inbox.
    InboxId,
    /// A way in (chat, email, messenger, form).
    ChannelId,
    /// What a chat or messenger channel shows.
    ChatflowId,
    /// A CRM record.
    ContactId,
    /// A thread with one contact on one channel.
    ConversationId,
    /// One item of a conversation's timeline.
    TimelineItemId,
    /// A tracked request.
    TicketId,
    /// An API token for integrations.
    ApiTokenId,
    /// A browser on a chat channel, known by its visitor token.
    VisitorId,
}
