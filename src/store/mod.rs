//! The store: the source of truth for every record, behind one trait with two backends.
//!
//! `postgres` (tokio-postgres + deadpool) for production and clusters, `sqlite` (rusqlite,
//! bundled) as the embedded default. The backend is chosen by the URL scheme in [`connect`].
//! Every operation takes the caller's [`AccountId`] and never reads or changes another account's
//! rows: a row of another account is [`StoreError::NotFound`], exactly like a missing one.
//! One conformance suite (`tests/store_conformance.rs`) runs the same cases on both backends.
//!
//! Must not: know about HTTP, sockets or the bus; hash passwords (it stores PHC strings it is given).

pub mod batcher;
mod migrate;
mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::*;

pub use batcher::AppendBatcher;
pub use migrate::{Migration, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Most rows one page may hold; a larger `limit` is clamped.
pub const MAX_PAGE_SIZE: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in this account (missing, or belonging to another account).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A unique rule would be broken, e.g. an agent email already in use.
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// The request is well-formed but refers to something that cannot be used here, e.g. a team
    /// member who is not an agent of the account, or a merge of a contact with itself.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The URL names no backend Parley has.
    #[error("unknown store URL scheme '{0}': use sqlite://PATH or postgres://…")]
    UnknownScheme(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A database error; logged, never shown to clients.
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Keyset paging: `after` is the `next` of the previous page. Pages are ordered newest first
/// by id, so rows inserted while a client pages never shift or repeat the pages it has not
/// read yet.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<uuid::Uuid>,
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            after: None,
            limit: 50,
        }
    }
}

impl PageRequest {
    /// The limit, clamped to 1..=[`MAX_PAGE_SIZE`].
    pub fn clamped_limit(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE_SIZE)
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    #[schema(value_type = Option<String>)]
    pub next: Option<uuid::Uuid>,
}

/// A connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open (idle or in use).
    pub size: usize,
    /// Connections open and idle.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// One append of [`Store::append_items`]: `item` for `conversation` of `account`.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub account: AccountId,
    pub conversation: ConversationId,
    pub item: NewItem,
}

impl StoreError {
    /// The same error again, for each of several callers that one failure answers (a batch
    /// that could not commit). A backend error keeps its message, not its source.
    pub fn for_each_caller(&self) -> Self {
        match self {
            Self::NotFound { entity } => Self::NotFound { entity },
            Self::Conflict { field, message } => Self::Conflict {
                field,
                message: message.clone(),
            },
            Self::Invalid { field, message } => Self::Invalid {
                field,
                message: message.clone(),
            },
            Self::UnknownScheme(scheme) => Self::UnknownScheme(scheme.clone()),
            Self::Unavailable(why) => Self::Unavailable(why.clone()),
            Self::Backend(e) => Self::backend(std::io::Error::other(e.to_string())),
        }
    }
}

/// Reads, for login and for authenticating a request, which happen before an account is known.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub agent: Agent,
    pub password_hash: String,
}

/// Every store operation. Methods that write more than one row do it in one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the store answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pool now, for `/metrics`; `None` for a store without a pool (SQLite).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    // Accounts
    async fn create_account(&self, name: Name) -> StoreResult<Account>;
    async fn get_account(&self, id: AccountId) -> StoreResult<Account>;
    async fn count_accounts(&self) -> StoreResult<u64>;

    // Agents. Emails are unique across all accounts, because login is by email alone.
    async fn create_agent(&self, account: AccountId, new: NewAgent) -> StoreResult<Agent>;
    async fn get_agent(&self, account: AccountId, id: AgentId) -> StoreResult<Agent>;
    async fn list_agents(&self, account: AccountId) -> StoreResult<Vec<Agent>>;
    async fn update_agent(
        &self,
        account: AccountId,
        id: AgentId,
        patch: AgentPatch,
    ) -> StoreResult<Agent>;
    /// Any account's agent by email, with the password hash, for login.
    async fn find_login(&self, email: &EmailAddress) -> StoreResult<Option<LoginRecord>>;

    // Sessions and API tokens (looked up by the SHA-256 of the token)
    async fn create_session(&self, session: Session) -> StoreResult<()>;
    /// The session and its agent, if the session exists and has not expired.
    async fn find_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(Session, Agent)>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Ends every session of the agent except `keep` (a token digest), e.g. after a password
    /// change or deactivation. Returns how many ended.
    async fn delete_agent_sessions(
        &self,
        account: AccountId,
        agent: AgentId,
        keep: Option<&str>,
    ) -> StoreResult<u64>;
    async fn create_api_token(
        &self,
        account: AccountId,
        agent: AgentId,
        name: Name,
        token_hash: String,
    ) -> StoreResult<ApiToken>;
    async fn list_api_tokens(
        &self,
        account: AccountId,
        agent: AgentId,
    ) -> StoreResult<Vec<ApiToken>>;
    async fn delete_api_token(&self, account: AccountId, id: ApiTokenId) -> StoreResult<()>;
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, Agent)>>;

    // Teams
    async fn create_team(
        &self,
        account: AccountId,
        name: Name,
        member_ids: Vec<AgentId>,
    ) -> StoreResult<Team>;
    async fn get_team(&self, account: AccountId, id: TeamId) -> StoreResult<Team>;
    async fn list_teams(&self, account: AccountId) -> StoreResult<Vec<Team>>;
    async fn update_team(
        &self,
        account: AccountId,
        id: TeamId,
        name: Option<Name>,
        member_ids: Option<Vec<AgentId>>,
    ) -> StoreResult<Team>;
    async fn delete_team(&self, account: AccountId, id: TeamId) -> StoreResult<()>;

    // Inboxes
    async fn create_inbox(&self, account: AccountId, new: NewInbox) -> StoreResult<Inbox>;
    async fn get_inbox(&self, account: AccountId, id: InboxId) -> StoreResult<Inbox>;
    /// Every inbox of the account, or only those `member` belongs to.
    async fn list_inboxes(
        &self,
        account: AccountId,
        member: Option<AgentId>,
    ) -> StoreResult<Vec<Inbox>>;
    async fn update_inbox(
        &self,
        account: AccountId,
        id: InboxId,
        patch: InboxPatch,
    ) -> StoreResult<Inbox>;
    async fn set_inbox_members(
        &self,
        account: AccountId,
        id: InboxId,
        member_ids: Vec<AgentId>,
    ) -> StoreResult<Inbox>;
    /// Refused with `Invalid` while the inbox still has channels or conversations.
    async fn delete_inbox(&self, account: AccountId, id: InboxId) -> StoreResult<()>;

    // Channels
    async fn create_channel(&self, account: AccountId, new: NewChannel) -> StoreResult<Channel>;
    async fn get_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<Channel>;
    async fn list_channels(
        &self,
        account: AccountId,
        inbox: Option<InboxId>,
    ) -> StoreResult<Vec<Channel>>;
    async fn update_channel(
        &self,
        account: AccountId,
        id: ChannelId,
        patch: ChannelPatch,
    ) -> StoreResult<Channel>;
    /// Refused with `Invalid` while the channel has conversations.
    async fn delete_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<()>;

    // Chatflows
    async fn create_chatflow(&self, account: AccountId, new: NewChatflow) -> StoreResult<Chatflow>;
    async fn get_chatflow(&self, account: AccountId, id: ChatflowId) -> StoreResult<Chatflow>;
    /// Ordered by priority, then creation.
    async fn list_chatflows(
        &self,
        account: AccountId,
        channel: ChannelId,
    ) -> StoreResult<Vec<Chatflow>>;
    async fn update_chatflow(
        &self,
        account: AccountId,
        id: ChatflowId,
        patch: ChatflowPatch,
    ) -> StoreResult<Chatflow>;
    async fn delete_chatflow(&self, account: AccountId, id: ChatflowId) -> StoreResult<()>;

    // Contacts
    async fn create_contact(&self, account: AccountId, new: NewContact) -> StoreResult<Contact>;
    async fn get_contact(&self, account: AccountId, id: ContactId) -> StoreResult<Contact>;
    async fn update_contact(
        &self,
        account: AccountId,
        id: ContactId,
        patch: ContactPatch,
    ) -> StoreResult<Contact>;
    async fn search_contacts(
        &self,
        account: AccountId,
        query: ContactQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Contact>>;
    /// Moves `merged`'s conversations, tickets and visitors to `kept`, fills `kept`'s empty
    /// fields and missing properties from `merged`, deletes `merged`, and returns `kept`. One
    /// transaction.
    async fn merge_contacts(
        &self,
        account: AccountId,
        kept: ContactId,
        merged: ContactId,
    ) -> StoreResult<Contact>;

    // Conversations. Creating or changing one also appends its timeline event and report event
    // in the same transaction.
    async fn create_conversation(
        &self,
        account: AccountId,
        new: NewConversation,
        actor: Actor,
    ) -> StoreResult<Conversation>;
    async fn get_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
    ) -> StoreResult<Conversation>;
    async fn list_conversations(
        &self,
        account: AccountId,
        filter: ConversationFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Conversation>>;
    /// Applies the change and appends the event item recording it (`status_changed` or
    /// `assigned`). A change that changes nothing appends nothing and returns `None` as the item.
    async fn change_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
        change: ConversationChange,
        actor: Actor,
    ) -> StoreResult<(Conversation, Option<TimelineItem>)>;

    // Timeline
    /// Assigns the next `seq` in the same transaction. Idempotent on the client id.
    async fn append_item(
        &self,
        account: AccountId,
        conversation: ConversationId,
        item: NewItem,
    ) -> StoreResult<Appended>;
    /// Many appends, to any conversations of any accounts, committed together in one
    /// transaction (one durable commit for the lot: group commit). The result for each is what
    /// [`Store::append_item`] would have returned had the appends run one after another in the
    /// order given: each item takes the next `seq` of its conversation, a client id seen before
    /// (stored earlier, or earlier in this same list) returns the stored item with
    /// `created: false`, and everything `append_item` writes with an item (report event, outbox
    /// row) is written with it. One refused append (a conversation that is not the account's)
    /// fails alone; when the transaction itself cannot commit, every append fails and nothing
    /// of the list is stored. Results come in the order of `appends`.
    async fn append_items(&self, appends: Vec<AppendRequest>) -> Vec<StoreResult<Appended>>;
    /// Items with `seq > after_seq`, oldest first, at most `limit` (clamped to [`MAX_PAGE_SIZE`]).
    async fn list_items(
        &self,
        account: AccountId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineItem>>;

    // Real-time (docs/store.md "Real-time")
    /// Creates an anonymous contact (no email, name or phone) and a visitor of `channel` holding
    /// it, in one transaction. `channel` must be a `chat` channel of the account, else
    /// `Invalid { field: "channel_id" }`.
    async fn create_visitor(
        &self,
        account: AccountId,
        channel: ChannelId,
        token_hash: String,
    ) -> StoreResult<Visitor>;
    /// Like `create_visitor`, but the visitor holds the contact of a verified identity, so one
    /// person's visitors on several devices share a contact (and its open conversation). For
    /// `VisitorIdentity::User`: the account's contact with that external id, else a new one
    /// with it; the unsigned email is stored on that contact (marked `email_unverified`) only
    /// when it has none and no other contact holds it, and never used to find a contact. For
    /// `VisitorIdentity::Email`: the account's contact with that email, else a new one; a
    /// contact holding it unverified is not joined: the address moves from it (to its
    /// [`GIVEN_EMAIL_PROPERTY`]) to the new contact, so no visitor can pre-claim another's
    /// address. One transaction; returns the visitor and its contact.
    async fn create_identified_visitor(
        &self,
        account: AccountId,
        channel: ChannelId,
        token_hash: String,
        identity: VisitorIdentity,
    ) -> StoreResult<(Visitor, Contact)>;
    /// An email the visitor typed, on their own contact, in one transaction: it becomes the
    /// contact's email, marked `email_unverified`, when the contact has none and no other
    /// contact of the account holds it; otherwise (unless it is already the contact's email) it
    /// is kept in the property [`GIVEN_EMAIL_PROPERTY`]. The visitor never moves to another
    /// contact. Returns the contact.
    async fn set_visitor_email(
        &self,
        account: AccountId,
        visitor: VisitorId,
        email: EmailAddress,
    ) -> StoreResult<Contact>;
    /// Any account's visitor by the SHA-256 of its token: the token proves the account.
    async fn find_visitor(&self, token_hash: &str) -> StoreResult<Option<Visitor>>;
    /// The newest conversation, not closed, of the visitor's contact on the visitor's channel.
    async fn open_visitor_conversation(
        &self,
        account: AccountId,
        visitor: VisitorId,
    ) -> StoreResult<Option<Conversation>>;
    /// Load of each of `agents` in the account (others are left out), sorted by agent id.
    async fn agent_loads(
        &self,
        account: AccountId,
        agents: Vec<AgentId>,
    ) -> StoreResult<Vec<AgentLoad>>;
    /// Assigns `conversation` to `agent`, atomically across nodes, only if it is not closed,
    /// has no assignee, and the agent has fewer than `capacity` open conversations (`None`: no
    /// limit). Writes the same `assigned` item and report event as `change_conversation`, and
    /// keeps the team. `None` when refused; an unknown agent is `Invalid { field: "agent_id" }`.
    async fn claim_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        agent: AgentId,
        capacity: Option<u32>,
        actor: Actor,
    ) -> StoreResult<Option<(Conversation, TimelineItem)>>;
    /// The routing queue of an inbox: open conversations without an assignee, oldest first, at
    /// most `limit` (clamped to [`MAX_PAGE_SIZE`]).
    async fn waiting_conversations(
        &self,
        account: AccountId,
        inbox: InboxId,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// Records that `reader` has read up to `seq` and returns the stored mark: it never goes
    /// down and never past the conversation's `last_seq`.
    async fn mark_read(
        &self,
        account: AccountId,
        conversation: ConversationId,
        reader: Actor,
        seq: i64,
    ) -> StoreResult<i64>;
    /// Every reader's mark in the conversation, ordered by reader type, then id.
    async fn read_marks(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<(Actor, i64)>>;

    // Bots
    /// Stores one bot turn atomically: appends `turn.items` in order (authored by the bot, no
    /// client id; report facts as for any item), saves the run's state (replacing the last),
    /// and records `turn.facts` in the report events. Returns the items as stored.
    async fn save_bot_turn(
        &self,
        account: AccountId,
        turn: BotTurn,
    ) -> StoreResult<Vec<TimelineItem>>;
    /// The bot run of a conversation, if a bot ever ran there.
    async fn get_bot_run(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Option<BotRun>>;

    // Outbox and Messenger (issue 6: src/outbox, src/channels/messenger)
    // (`append_item` and bot turns write an outbox row with each outbound message on an email
    // or Messenger channel, in the same transaction.)
    /// Claims up to `limit` due outbox rows of any account: pending, due, and not held by a
    /// live lease. Each is held for `lease` and its attempt counted; across nodes no row is
    /// claimed twice while its lease runs (PostgreSQL `FOR UPDATE SKIP LOCKED`).
    async fn claim_outbox(
        &self,
        lease: std::time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<crate::outbox::OutboxJob>>;
    /// Records what became of a claimed attempt on the row and on its message (delivery status
    /// and error), and for a sent mail its `email_messages` row, in one transaction. Returns the
    /// message as now stored, or `None` when the row is no longer pending.
    async fn finish_outbox(
        &self,
        job: &crate::outbox::OutboxJob,
        outcome: crate::outbox::OutboxOutcome,
    ) -> StoreResult<Option<TimelineItem>>;
    /// Outbox rows still `pending` (due or waiting to retry), of every account: the backlog
    /// `/metrics` shows.
    async fn count_pending_outbox(&self) -> StoreResult<u64>;
    /// The email headers of a conversation's messages, both directions, oldest first.
    async fn email_thread(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<crate::outbox::EmailHeaders>>;
    /// The kind of the conversation's channel, and when the contact last wrote on that channel
    /// (in any of their conversations there), for Messenger's reply window.
    async fn reply_window(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<(ChannelKind, Option<OffsetDateTime>)>;
    /// The Messenger channel of a Facebook page, in any account.
    async fn find_messenger_channel(&self, page_id: &str) -> StoreResult<Option<Channel>>;
    /// The Messenger channel whose `verify_token` is `token`, in any account (webhook setup).
    async fn find_messenger_channel_by_verify_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<Channel>>;
    /// Stores one Messenger event in one transaction: the contact of the PSID (found by its
    /// `messenger_psid` property, else created), their open conversation on the channel (else a
    /// new one), and the message. An echo is stored outbound and already `sent`, with no outbox
    /// row. `None` when the `mid` was stored before.
    async fn store_messenger_event(
        &self,
        account: AccountId,
        event: crate::channels::messenger::MessengerInbound,
    ) -> StoreResult<Option<crate::channels::messenger::MessengerStored>>;

    // Email in (issue 6: src/channels/email)
    /// Imports one inbound mail in one transaction: the contact with the sender's address (a
    /// new one named from the `From` header when none has it), the conversation it threads
    /// into (by Message-ID references, else the reply token's conversation, else the newest
    /// not-closed conversation of that same contact in the channel's inbox with the same
    /// [`normalize_subject`]) or a new one, the inbound message item, its `email_messages` row
    /// and its attachments. A Message-ID already imported in the account writes nothing and is
    /// [`EmailImport::Duplicate`]. `mail.channel_id` must be an email channel of the account.
    async fn import_email(
        &self,
        account: AccountId,
        mail: InboundEmail,
    ) -> StoreResult<EmailImport>;
    /// Keeps mail out of the inbox for admins to review. `inbox_id` must be the account's.
    async fn hold_mail(&self, account: AccountId, held: NewHeldMail) -> StoreResult<HeldMail>;
    /// Held mail of an inbox, newest first.
    async fn list_held_mail(
        &self,
        account: AccountId,
        inbox: InboxId,
        page: PageRequest,
    ) -> StoreResult<Page<HeldMail>>;
    /// One held mail and its raw bytes.
    async fn get_held_mail(
        &self,
        account: AccountId,
        id: uuid::Uuid,
    ) -> StoreResult<(HeldMail, Vec<u8>)>;
    /// Any account's inbox by its fallback local part (lower-case), for the inbound SMTP
    /// listener, which learns the account from the recipient.
    async fn find_fallback_inbox(&self, local_part: &str) -> StoreResult<Option<Inbox>>;
    /// Every email channel of every account, oldest first (the IMAP connectors).
    async fn all_email_channels(&self) -> StoreResult<Vec<Channel>>;
    /// Takes or renews the lease on a channel's IMAP import for `holder` until `until`; `false`
    /// while another holder's lease has not run out at `now`.
    async fn take_imap_lease(
        &self,
        channel: ChannelId,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Gives the lease up, if `holder` has it.
    async fn release_imap_lease(&self, channel: ChannelId, holder: uuid::Uuid) -> StoreResult<()>;
    async fn imap_position(&self, channel: ChannelId) -> StoreResult<Option<ImapPosition>>;
    async fn save_imap_position(
        &self,
        channel: ChannelId,
        mailbox: &str,
        position: ImapPosition,
    ) -> StoreResult<()>;
    //

    // Forms (issue 6: src/channels/forms)
    /// Any account's channel of kind `form` by id, for the public form routes (the channel id is
    /// all a page knows). `None` for no such channel or another kind.
    async fn find_form_channel(&self, id: ChannelId) -> StoreResult<Option<Channel>>;
    /// Stores one submission, all or nothing: the contact with the submission's email (else a
    /// new one; its empty name and phone and missing properties filled), a conversation on the
    /// form channel with the submission as the contact's inbound message, and a ticket for it.
    /// `channel_id` must be a `form` channel of the account (`Invalid { field: "channel_id" }`);
    /// an owner who is not an agent of the account is `Invalid { field: "owner_id" }`.
    async fn store_form_submission(
        &self,
        account: AccountId,
        submission: NewFormSubmission,
    ) -> StoreResult<FormSubmissionStored>;
    //

    // Tickets
    async fn create_ticket(&self, account: AccountId, new: NewTicket) -> StoreResult<Ticket>;
    async fn get_ticket(&self, account: AccountId, id: TicketId) -> StoreResult<Ticket>;
    async fn update_ticket(
        &self,
        account: AccountId,
        id: TicketId,
        patch: TicketPatch,
    ) -> StoreResult<Ticket>;
    async fn list_tickets(
        &self,
        account: AccountId,
        filter: TicketFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Ticket>>;

    // Report events (append-only)
    async fn append_event(&self, account: AccountId, event: NewEvent) -> StoreResult<Event>;
    /// Events with `id > after_id`, oldest first.
    async fn list_events(
        &self,
        account: AccountId,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
    /// Conversations whose report rollup is behind their report events (docs/reports.md
    /// "Rollups"), of `account` (every account when `None`), after `after` in conversation id
    /// order, at most `limit`.
    async fn report_pending(
        &self,
        account: Option<AccountId>,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<PendingRollup>>;
    /// Every event of the kinds in [`REPORT_EVENT_KINDS`] of these conversations of `account`, their whole
    /// history, ordered by conversation, then time, then id.
    async fn report_history(
        &self,
        account: AccountId,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<ReportEventRow>>;
    /// Stores rollups, each only when its `version` is newer than the one stored (so of two
    /// nodes settling one conversation at once, the later events win), and marks clean the
    /// conversations whose rollup now has every event. A conversation being written to at
    /// that moment is left as it is (pending) rather than waited for.
    async fn save_report_rollups(&self, rollups: &[ReportRollup]) -> StoreResult<()>;
    /// The stored facts of each conversation with events in `[scope.from, scope.to)`: its first
    /// event before `scope.to` and its last at or after `scope.from`. Only conversations of
    /// `scope.inboxes` when given.
    async fn report_rollups(
        &self,
        account: AccountId,
        scope: ReportScope,
    ) -> StoreResult<Vec<Vec<u8>>>;
}

/// A conversation whose report rollup is behind its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRollup {
    pub account: AccountId,
    pub conversation: ConversationId,
    /// How many report events it had when read: a rollup computed from its events now is
    /// current at least up to this.
    pub version: i64,
}

/// One conversation's report facts (`reports::facts`, encoded), ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRollup {
    pub conversation: ConversationId,
    pub version: i64,
    pub inbox: Option<InboxId>,
    /// Its first and last report event; `None` when it has none.
    pub first_at: Option<OffsetDateTime>,
    pub last_at: Option<OffsetDateTime>,
    pub facts: Vec<u8>,
}

/// The event kinds reports read.
pub const REPORT_EVENT_KINDS: &[&str] = &[
    "conversation.created",
    "conversation.assigned",
    "conversation.status_changed",
    "message.received",
    "message.sent",
    "bot.step",
    "bot.finished",
];

/// Which conversations' rollups a report reads.
#[derive(Debug, Clone)]
pub struct ReportScope {
    /// Start of the range, inclusive.
    pub from: OffsetDateTime,
    /// End of the range, exclusive.
    pub to: OffsetDateTime,
    /// Only conversations of these inboxes; `None`: every inbox of the account.
    pub inboxes: Option<Vec<InboxId>>,
}

/// What a report event records; see [`REPORT_EVENT_KINDS`] for the stored names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEventKind {
    Created,
    Assigned,
    StatusChanged,
    MessageReceived,
    MessageSent,
    BotStep,
    BotFinished,
}

impl ReportEventKind {
    /// The code the stores' report queries give each stored kind: its position in
    /// [`REPORT_EVENT_KINDS`], from 1.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => Self::Created,
            2 => Self::Assigned,
            3 => Self::StatusChanged,
            4 => Self::MessageReceived,
            5 => Self::MessageSent,
            6 => Self::BotStep,
            7 => Self::BotFinished,
            _ => return None,
        })
    }
}

/// One report event, with the few fields of its `data` reports use taken out and typed by the
/// store (so a large range parses no JSON and no id text in Rust).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportEventRow {
    pub id: i64,
    pub kind: ReportEventKind,
    pub conversation_id: ConversationId,
    pub inbox_id: Option<InboxId>,
    pub agent_id: Option<AgentId>,
    pub occurred_at: OffsetDateTime,
    /// `Created`: `channel_id`; `Assigned`: `assignee_id`; `BotStep`, `BotFinished`:
    /// `chatflow_id`.
    pub ref_id: Option<uuid::Uuid>,
    /// `Assigned`: `team_id`.
    pub team_id: Option<TeamId>,
    /// `Created`: `channel_kind`; `StatusChanged`: `to`; `BotStep`: `kind`; `BotFinished`:
    /// `outcome`.
    pub word: Option<String>,
    /// `BotStep`: `step`.
    pub step: Option<String>,
}

pub type DynStore = Arc<dyn Store>;

/// Which backend a store URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A file path; its parent directory is created.
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl StoreUrl {
    pub fn parse(url: &str) -> StoreResult<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| StoreError::UnknownScheme(url.to_owned()))?;
        match scheme {
            "sqlite" if !rest.is_empty() => Ok(Self::Sqlite(rest.into())),
            "sqlite" => Err(StoreError::Invalid {
                field: "store.url",
                message: "sqlite:// needs a file path, e.g. sqlite://data/parley.db".into(),
            }),
            "postgres" | "postgresql" => Ok(Self::Postgres(url.to_owned())),
            other => Err(StoreError::UnknownScheme(other.to_owned())),
        }
    }
}

/// Opens the store a URL names, applying pending migrations.
pub async fn connect(url: &str, pool_size: usize) -> StoreResult<DynStore> {
    match StoreUrl::parse(url)? {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(&path).await?)),
        StoreUrl::Postgres(url) => Ok(Arc::new(PostgresStore::connect(&url, pool_size).await?)),
    }
}
