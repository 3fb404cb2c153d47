//! Records as the store keeps them, and the inputs that create or change them. Inputs hold
//! validated values only: the HTTP layer parses, the store trusts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::*;

/// A tenant. Every other record belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub name: Name,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What visitors see of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentProfile {
    pub display_name: Name,
    pub avatar_url: Option<WebUrl>,
    pub meeting_link: Option<WebUrl>,
}

/// Which notifications a person gets. Used per agent and as an inbox's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPrefs {
    pub new_assignment: bool,
    pub mention: bool,
    pub new_message: bool,
    /// Also through the browser's Notification API, when the browser permits it.
    pub browser: bool,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        Self {
            new_assignment: true,
            mention: true,
            new_message: true,
            browser: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: AgentId,
    pub account_id: AccountId,
    pub email: EmailAddress,
    pub role: AgentRole,
    pub profile: AgentProfile,
    pub notification_prefs: NotificationPrefs,
    pub status: AgentStatus,
    /// A deactivated agent cannot sign in but stays in history and reports.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub email: EmailAddress,
    pub role: AgentRole,
    pub profile: AgentProfile,
    /// An argon2id PHC string; the store never sees a password.
    pub password_hash: String,
}

/// A change to an agent; `None` leaves a field as it is. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub email: Option<EmailAddress>,
    pub role: Option<AgentRole>,
    pub display_name: Option<Name>,
    pub avatar_url: Option<Option<WebUrl>>,
    pub meeting_link: Option<Option<WebUrl>>,
    pub notification_prefs: Option<NotificationPrefs>,
    pub status: Option<AgentStatus>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
}

/// A browser or API session. The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub account_id: AccountId,
    pub agent_id: AgentId,
    /// Sent back by the browser in `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// A long-lived token for integrations, acting as the agent who made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub account_id: AccountId,
    pub agent_id: AgentId,
    pub name: Name,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub account_id: AccountId,
    pub name: Name,
    /// Sorted, no duplicates.
    pub member_ids: Vec<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Who new conversations of an inbox go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum RoutingTarget {
    /// Nobody: agents pick conversations themselves.
    Unassigned,
    /// The members of one team.
    Team { team_id: TeamId },
    /// A fixed list of agents.
    Agents { agent_ids: Vec<AgentId> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    pub target: RoutingTarget,
    pub strategy: RoutingStrategy,
    /// Most open conversations an agent is given by routing; `None` is no limit.
    pub capacity: Option<u32>,
    /// Give a returning contact to their owner when the owner is online.
    pub sticky_to_owner: bool,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            target: RoutingTarget::Unassigned,
            strategy: RoutingStrategy::RoundRobin,
            capacity: None,
            sticky_to_owner: true,
        }
    }
}

/// Mail an inbox keeps out of its list (recorded and reviewable, never silently dropped).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailFilters {
    /// Lower-case addresses.
    pub blocked_senders: Vec<EmailAddress>,
    /// Lower-case domains, without `@`.
    pub blocked_domains: Vec<String>,
    /// Keep auto-replies and bounces out of the inbox.
    pub filter_auto_replies: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Inbox {
    pub id: InboxId,
    pub account_id: AccountId,
    pub name: Name,
    pub routing: RoutingSettings,
    pub notification_defaults: NotificationPrefs,
    pub email_filters: EmailFilters,
    /// Local part of the address on Parley's own inbound SMTP listener (`{local}@{mail domain}`),
    /// generated once and unique across accounts.
    pub fallback_local_part: String,
    /// Sorted, no duplicates.
    pub member_ids: Vec<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewInbox {
    pub name: Name,
    pub routing: RoutingSettings,
    pub notification_defaults: NotificationPrefs,
    pub email_filters: EmailFilters,
    pub member_ids: Vec<AgentId>,
}

#[derive(Debug, Clone, Default)]
pub struct InboxPatch {
    pub name: Option<Name>,
    pub routing: Option<RoutingSettings>,
    pub notification_defaults: Option<NotificationPrefs>,
    pub email_filters: Option<EmailFilters>,
}

/// A way into an inbox. Kind-specific settings are kept as a JSON object whose shape the
/// channel's own module owns (`channels::*`), so adding a setting needs no migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub account_id: AccountId,
    pub inbox_id: InboxId,
    pub kind: ChannelKind,
    pub name: Name,
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewChannel {
    pub inbox_id: InboxId,
    pub kind: ChannelKind,
    pub name: Name,
    pub settings: Map<String, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub inbox_id: Option<InboxId>,
    pub name: Option<Name>,
    pub settings: Option<Map<String, Value>>,
}

/// What a chat or messenger channel shows. Targeting, availability, branding and the bot flow
/// are JSON whose shape `chatflows` owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chatflow {
    pub id: ChatflowId,
    pub account_id: AccountId,
    pub channel_id: ChannelId,
    pub name: Name,
    pub kind: ChatflowKind,
    /// Lower runs first when several chatflows' targeting matches.
    pub priority: i32,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub targeting: Value,
    #[schema(value_type = Object)]
    pub availability: Value,
    #[schema(value_type = Object)]
    pub branding: Value,
    #[schema(value_type = Object)]
    pub flow: Option<Value>,
    /// Bumped on every change of `flow`, so running bots know which version they follow.
    pub flow_version: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewChatflow {
    pub channel_id: ChannelId,
    pub name: Name,
    pub kind: ChatflowKind,
    pub priority: i32,
    pub enabled: bool,
    pub targeting: Value,
    pub availability: Value,
    pub branding: Value,
    pub flow: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct ChatflowPatch {
    pub name: Option<Name>,
    pub priority: Option<i32>,
    pub enabled: Option<bool>,
    pub targeting: Option<Value>,
    pub availability: Option<Value>,
    pub branding: Option<Value>,
    /// A new flow bumps `flow_version`.
    pub flow: Option<Option<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub account_id: AccountId,
    pub email: Option<EmailAddress>,
    pub name: Option<Name>,
    pub phone: Option<Phone>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub owner_id: Option<AgentId>,
    /// The host site's user id, set by a verified widget identity; unique in the account.
    pub external_id: Option<ExternalId>,
    /// The email was typed by a widget visitor and nobody checked it. An agent setting the
    /// email clears this; a signed identity with the same email takes the address over.
    #[serde(default)]
    pub email_unverified: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub email: Option<EmailAddress>,
    pub name: Option<Name>,
    pub phone: Option<Phone>,
    pub properties: Map<String, Value>,
    pub owner_id: Option<AgentId>,
}

#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub email: Option<Option<EmailAddress>>,
    pub name: Option<Option<Name>>,
    pub phone: Option<Option<Phone>>,
    /// Merged into the existing properties; a `null` value removes that property.
    pub properties: Option<Map<String, Value>>,
    pub owner_id: Option<Option<AgentId>>,
}

/// Contact search: every given criterion must match. `query` matches email, name or phone
/// (case-insensitive substring); `email` matches exactly.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    pub query: Option<String>,
    pub email: Option<EmailAddress>,
    pub phone: Option<String>,
    pub name: Option<String>,
}

/// A browser on a chat channel. The visitor token it holds is never stored, only its SHA-256;
/// each visitor starts with its own anonymous contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Visitor {
    pub id: VisitorId,
    pub account_id: AccountId,
    pub channel_id: ChannelId,
    pub contact_id: ContactId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The contact property keeping an email a widget visitor typed that could not become the
/// contact's email (another contact holds it, or theirs has one), for an agent to see.
pub const GIVEN_EMAIL_PROPERTY: &str = "given_email";

/// Who a widget visitor is, as the host site vouched for it with the channel's identity secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitorIdentity {
    /// The site's user id was signed; the email, if any, came along unsigned, so it is only
    /// ever stored on this user's contact and never used to find another contact.
    User {
        external_id: ExternalId,
        email: Option<EmailAddress>,
    },
    /// No user id: the email itself was signed.
    Email(EmailAddress),
}

/// How busy an agent is, for routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentLoad {
    pub agent_id: AgentId,
    /// Conversations assigned to the agent with status `open` or `pending`.
    pub open: u32,
    /// When routing or a person last assigned a conversation to the agent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_assigned_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub account_id: AccountId,
    pub inbox_id: InboxId,
    pub channel_id: ChannelId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    pub assignee_id: Option<AgentId>,
    pub team_id: Option<TeamId>,
    pub subject: Option<String>,
    /// The `seq` of the newest timeline item; 0 for none.
    pub last_seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub channel_id: ChannelId,
    pub contact_id: ContactId,
    pub subject: Option<String>,
}

/// Conversation list filters; every given one must match.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Only these inboxes (an agent's memberships); `None` is every inbox of the account.
    pub visible_inboxes: Option<Vec<InboxId>>,
    pub inbox_id: Option<InboxId>,
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<AgentId>,
    pub team_id: Option<TeamId>,
    pub channel_id: Option<ChannelId>,
    pub contact_id: Option<ContactId>,
    /// Only conversations with no assignee.
    pub unassigned: bool,
}

/// A change to a conversation, stored together with the timeline event that records it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationChange {
    Status(ConversationStatus),
    /// Assign to an agent and/or a team; `None` clears that side.
    Assign {
        assignee_id: Option<AgentId>,
        team_id: Option<TeamId>,
    },
}

/// Who made a timeline item or a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Agent(AgentId),
    Contact(ContactId),
    Bot,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineItem {
    pub id: TimelineItemId,
    pub conversation_id: ConversationId,
    /// Position in the conversation: 1, 2, 3… with no gaps, assigned when stored.
    pub seq: i64,
    /// The writer's idempotency key: a retry with the same one returns this item.
    pub client_id: Option<Uuid>,
    pub kind: ItemKind,
    pub author: Actor,
    /// Messages only.
    pub direction: Option<Direction>,
    /// Messages and comments.
    pub body: Option<String>,
    /// Comments only: agents @mentioned.
    pub mentions: Vec<AgentId>,
    /// Events only: what happened, e.g. `{"type":"assigned","assignee_id":…}`.
    #[schema(value_type = Object)]
    pub data: Option<Value>,
    /// Outbound messages only.
    pub delivery_status: Option<DeliveryStatus>,
    pub delivery_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NewItemContent {
    Message { direction: Direction, body: Body },
    Comment { body: Body, mentions: Vec<AgentId> },
    Event { data: Value },
}

#[derive(Debug, Clone)]
pub struct NewItem {
    pub client_id: Option<Uuid>,
    pub author: Actor,
    pub content: NewItemContent,
}

/// The result of an append: `created` is false when the client id was seen before and the
/// stored item is returned unchanged.
#[derive(Debug, Clone)]
pub struct Appended {
    pub item: TimelineItem,
    pub created: bool,
}

/// Where a bot is in one conversation, as stored between the visitor's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct BotRun {
    pub conversation_id: ConversationId,
    pub chatflow_id: ChatflowId,
    /// The engine's state (`bots::BotState`) as JSON; the store does not read it.
    pub state: Value,
    pub finished: bool,
    pub updated_at: OffsetDateTime,
}

/// One turn of a bot in a conversation, stored in one transaction: what it said (timeline
/// items authored by the bot, in order), where it now is, and the facts for reports.
#[derive(Debug, Clone)]
pub struct BotTurn {
    pub conversation_id: ConversationId,
    pub chatflow_id: ChatflowId,
    pub state: Value,
    pub finished: bool,
    pub items: Vec<NewItemContent>,
    pub facts: Vec<BotFact>,
}

/// A report fact of a bot turn, e.g. `bot.step` with `{"step": "ask_email", "kind": "entered"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct BotFact {
    pub kind: String,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    pub account_id: AccountId,
    pub inbox_id: InboxId,
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    pub title: String,
    pub stage: TicketStage,
    pub priority: TicketPriority,
    pub owner_id: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The ticket's inbox, contact and default title come from this conversation.
    pub conversation_id: ConversationId,
    pub title: Option<Name>,
    pub priority: TicketPriority,
    pub owner_id: Option<AgentId>,
}

#[derive(Debug, Clone, Default)]
pub struct TicketPatch {
    pub title: Option<Name>,
    pub stage: Option<TicketStage>,
    pub priority: Option<TicketPriority>,
    pub owner_id: Option<Option<AgentId>>,
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub visible_inboxes: Option<Vec<InboxId>>,
    pub inbox_id: Option<InboxId>,
    pub stage: Option<TicketStage>,
    pub priority: Option<TicketPriority>,
    pub owner_id: Option<AgentId>,
    pub contact_id: Option<ContactId>,
    pub conversation_id: Option<ConversationId>,
    /// Only tickets nobody owns.
    pub unowned: bool,
}

/// A fact for reports. Append-only: the store has no way to change or delete one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Store-assigned, increasing in insertion order.
    pub id: i64,
    pub account_id: AccountId,
    /// e.g. `conversation.created`, `conversation.assigned`, `message.sent`.
    pub kind: String,
    pub inbox_id: Option<InboxId>,
    pub conversation_id: Option<ConversationId>,
    pub agent_id: Option<AgentId>,
    #[schema(value_type = Object)]
    pub data: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    pub inbox_id: Option<InboxId>,
    pub conversation_id: Option<ConversationId>,
    pub agent_id: Option<AgentId>,
    pub data: Value,
    pub occurred_at: OffsetDateTime,
}
