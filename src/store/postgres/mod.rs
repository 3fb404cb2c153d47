//! The PostgreSQL backend: a deadpool of tokio-postgres connections (no TLS: the database is
//! expected on a private network or a local socket), migrations applied at connect, and every
//! [`Store`] operation as prepared statements.
//!
//! Submodules own one area each (`directory`: accounts, agents, sessions, tokens, teams;
//! `inboxes`: inboxes, channels, chatflows; `contacts`; `conversations`: conversations, timeline,
//! tickets, report events); this file holds the pool, the shared query helpers and the trait
//! impl that routes to them. The contract is `docs/store.md`.
//!
//! Must not: decide policy the SQLite backend would have to copy differently (that belongs in
//! `docs/store.md` and the conformance suite), or hold a connection across anything but queries.

#[macro_use]
mod columns;
mod contacts;
mod conversations;
mod directory;
mod email;
mod error;
mod forms;
mod inboxes;
mod migrate;
mod outbox;
mod realtime;
mod reports;
mod rows;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::*;
use crate::meters::{self, StoreOp};

/// How long a request waits for a free pooled connection before the store reports itself
/// unavailable (a 503 the client retries) instead of queueing without bound.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How long opening one connection may take, when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Builds a pool of at most `pool_size` connections and applies pending migrations.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Invalid {
            field: "store.url",
            message: format!("not a usable PostgreSQL URL: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                // Fast: a broken connection shows up as a closed client, which deadpool checks.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate::run(&pool, POSTGRES_MIGRATIONS).await?;
        Ok(Self { pool })
    }
}

/// Now, truncated to microseconds: what `timestamptz` keeps, so a value returned by a write
/// equals the same value read back later.
pub(super) fn now() -> OffsetDateTime {
    micros(OffsetDateTime::now_utc())
}

pub(super) fn micros(at: OffsetDateTime) -> OffsetDateTime {
    at - time::Duration::nanoseconds(i64::from(at.nanosecond() % 1_000))
}

/// Ids sorted and without duplicates, as member lists are stored and returned.
pub(super) fn sorted_ids(ids: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(super) fn not_found(entity: &'static str) -> StoreError {
    StoreError::NotFound { entity }
}

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Vec<Row>> {
    let _timer = meters::store_timer(StoreOp::PostgresQuery);
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

pub(super) async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Option<Row>> {
    let _timer = meters::store_timer(StoreOp::PostgresQueryOpt);
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

pub(super) async fn query_one(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Row> {
    let _timer = meters::store_timer(StoreOp::PostgresQueryOne);
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_one(&statement, params).await?)
}

pub(super) async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<u64> {
    let _timer = meters::store_timer(StoreOp::PostgresExecute);
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// A list query whose conditions depend on the filter given. Each combination of conditions is
/// its own statement text, so each gets its own cached plan that can use the matching index.
pub(super) struct ListQuery {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl ListQuery {
    /// `base` selects the columns and ends in a `WHERE` clause (at least the account).
    pub(super) fn new(base: &str, account: AccountId) -> Self {
        Self {
            sql: format!("{base} account_id = $1"),
            params: vec![Box::new(account.0)],
        }
    }

    /// Adds `AND condition`, where every `?` in `condition` stands for `value`.
    pub(super) fn and(&mut self, condition: &str, value: impl ToSql + Sync + Send + 'static) {
        self.params.push(Box::new(value));
        let placeholder = format!("${}", self.params.len());
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition.replace('?', &placeholder));
    }

    /// Adds `AND condition` for a condition without parameters.
    pub(super) fn and_sql(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }

    pub(super) fn and_if<T: ToSql + Sync + Send + 'static>(
        &mut self,
        condition: &str,
        value: Option<T>,
    ) {
        if let Some(value) = value {
            self.and(condition, value);
        }
    }

    /// One page, newest first (keyset on `id`), per `docs/store.md`.
    pub(super) async fn page<T>(
        mut self,
        client: &impl GenericClient,
        page: PageRequest,
        decode: fn(&Row) -> StoreResult<T>,
        id_of: fn(&T) -> Uuid,
    ) -> StoreResult<Page<T>> {
        self.and_if("id < ?", page.after);
        let limit = page.clamped_limit() as usize;
        // One row more than asked tells whether another page exists.
        self.params.push(Box::new((limit + 1) as i64));
        self.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ${}", self.params.len()));
        let params: Vec<&(dyn ToSql + Sync)> = self
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = query(client, &self.sql, &params).await?;
        let mut items = rows.iter().map(decode).collect::<StoreResult<Vec<T>>>()?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(id_of)
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

/// `%text%` for ILIKE, with the input's own wildcards and escape character matched literally.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl Store for PostgresStore {
    fn pool_status(&self) -> Option<PoolStatus> {
        let status = self.pool.status();
        Some(PoolStatus {
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        query_one(&client, "SELECT 1", &[]).await.map(drop)
    }

    async fn create_account(&self, name: Name) -> StoreResult<Account> {
        directory::create_account(&self.pool, name).await
    }
    async fn get_account(&self, id: AccountId) -> StoreResult<Account> {
        directory::get_account(&self.pool, id).await
    }
    async fn count_accounts(&self) -> StoreResult<u64> {
        directory::count_accounts(&self.pool).await
    }

    async fn create_agent(&self, account: AccountId, new: NewAgent) -> StoreResult<Agent> {
        directory::create_agent(&self.pool, account, new).await
    }
    async fn get_agent(&self, account: AccountId, id: AgentId) -> StoreResult<Agent> {
        directory::get_agent(&self.pool, account, id).await
    }
    async fn list_agents(&self, account: AccountId) -> StoreResult<Vec<Agent>> {
        directory::list_agents(&self.pool, account).await
    }
    async fn update_agent(
        &self,
        account: AccountId,
        id: AgentId,
        patch: AgentPatch,
    ) -> StoreResult<Agent> {
        directory::update_agent(&self.pool, account, id, patch).await
    }
    async fn find_login(&self, email: &EmailAddress) -> StoreResult<Option<LoginRecord>> {
        directory::find_login(&self.pool, email).await
    }

    async fn create_session(&self, session: Session) -> StoreResult<()> {
        directory::create_session(&self.pool, session).await
    }
    async fn find_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(Session, Agent)>> {
        directory::find_session(&self.pool, token_hash, now).await
    }
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        directory::delete_session(&self.pool, token_hash).await
    }
    async fn delete_agent_sessions(
        &self,
        account: AccountId,
        agent: AgentId,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        directory::delete_agent_sessions(&self.pool, account, agent, keep).await
    }
    async fn create_api_token(
        &self,
        account: AccountId,
        agent: AgentId,
        name: Name,
        token_hash: String,
    ) -> StoreResult<ApiToken> {
        directory::create_api_token(&self.pool, account, agent, name, token_hash).await
    }
    async fn list_api_tokens(
        &self,
        account: AccountId,
        agent: AgentId,
    ) -> StoreResult<Vec<ApiToken>> {
        directory::list_api_tokens(&self.pool, account, agent).await
    }
    async fn delete_api_token(&self, account: AccountId, id: ApiTokenId) -> StoreResult<()> {
        directory::delete_api_token(&self.pool, account, id).await
    }
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, Agent)>> {
        directory::find_api_token(&self.pool, token_hash).await
    }

    async fn create_team(
        &self,
        account: AccountId,
        name: Name,
        member_ids: Vec<AgentId>,
    ) -> StoreResult<Team> {
        directory::create_team(&self.pool, account, name, member_ids).await
    }
    async fn get_team(&self, account: AccountId, id: TeamId) -> StoreResult<Team> {
        directory::get_team(&self.pool, account, id).await
    }
    async fn list_teams(&self, account: AccountId) -> StoreResult<Vec<Team>> {
        directory::list_teams(&self.pool, account).await
    }
    async fn update_team(
        &self,
        account: AccountId,
        id: TeamId,
        name: Option<Name>,
        member_ids: Option<Vec<AgentId>>,
    ) -> StoreResult<Team> {
        directory::update_team(&self.pool, account, id, name, member_ids).await
    }
    async fn delete_team(&self, account: AccountId, id: TeamId) -> StoreResult<()> {
        directory::delete_team(&self.pool, account, id).await
    }

    async fn create_inbox(&self, account: AccountId, new: NewInbox) -> StoreResult<Inbox> {
        inboxes::create_inbox(&self.pool, account, new).await
    }
    async fn get_inbox(&self, account: AccountId, id: InboxId) -> StoreResult<Inbox> {
        inboxes::get_inbox(&self.pool, account, id).await
    }
    async fn list_inboxes(
        &self,
        account: AccountId,
        member: Option<AgentId>,
    ) -> StoreResult<Vec<Inbox>> {
        inboxes::list_inboxes(&self.pool, account, member).await
    }
    async fn update_inbox(
        &self,
        account: AccountId,
        id: InboxId,
        patch: InboxPatch,
    ) -> StoreResult<Inbox> {
        inboxes::update_inbox(&self.pool, account, id, patch).await
    }
    async fn set_inbox_members(
        &self,
        account: AccountId,
        id: InboxId,
        member_ids: Vec<AgentId>,
    ) -> StoreResult<Inbox> {
        inboxes::set_inbox_members(&self.pool, account, id, member_ids).await
    }
    async fn delete_inbox(&self, account: AccountId, id: InboxId) -> StoreResult<()> {
        inboxes::delete_inbox(&self.pool, account, id).await
    }

    async fn create_channel(&self, account: AccountId, new: NewChannel) -> StoreResult<Channel> {
        inboxes::create_channel(&self.pool, account, new).await
    }
    async fn get_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<Channel> {
        inboxes::get_channel(&self.pool, account, id).await
    }
    async fn list_channels(
        &self,
        account: AccountId,
        inbox: Option<InboxId>,
    ) -> StoreResult<Vec<Channel>> {
        inboxes::list_channels(&self.pool, account, inbox).await
    }
    async fn update_channel(
        &self,
        account: AccountId,
        id: ChannelId,
        patch: ChannelPatch,
    ) -> StoreResult<Channel> {
        inboxes::update_channel(&self.pool, account, id, patch).await
    }
    async fn delete_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<()> {
        inboxes::delete_channel(&self.pool, account, id).await
    }

    async fn create_chatflow(&self, account: AccountId, new: NewChatflow) -> StoreResult<Chatflow> {
        inboxes::create_chatflow(&self.pool, account, new).await
    }
    async fn get_chatflow(&self, account: AccountId, id: ChatflowId) -> StoreResult<Chatflow> {
        inboxes::get_chatflow(&self.pool, account, id).await
    }
    async fn list_chatflows(
        &self,
        account: AccountId,
        channel: ChannelId,
    ) -> StoreResult<Vec<Chatflow>> {
        inboxes::list_chatflows(&self.pool, account, channel).await
    }
    async fn update_chatflow(
        &self,
        account: AccountId,
        id: ChatflowId,
        patch: ChatflowPatch,
    ) -> StoreResult<Chatflow> {
        inboxes::update_chatflow(&self.pool, account, id, patch).await
    }
    async fn delete_chatflow(&self, account: AccountId, id: ChatflowId) -> StoreResult<()> {
        inboxes::delete_chatflow(&self.pool, account, id).await
    }

    async fn create_contact(&self, account: AccountId, new: NewContact) -> StoreResult<Contact> {
        contacts::create_contact(&self.pool, account, new).await
    }
    async fn get_contact(&self, account: AccountId, id: ContactId) -> StoreResult<Contact> {
        contacts::get_contact(&self.pool, account, id).await
    }
    async fn update_contact(
        &self,
        account: AccountId,
        id: ContactId,
        patch: ContactPatch,
    ) -> StoreResult<Contact> {
        contacts::update_contact(&self.pool, account, id, patch).await
    }
    async fn search_contacts(
        &self,
        account: AccountId,
        query: ContactQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Contact>> {
        contacts::search_contacts(&self.pool, account, query, page).await
    }
    async fn merge_contacts(
        &self,
        account: AccountId,
        kept: ContactId,
        merged: ContactId,
    ) -> StoreResult<Contact> {
        contacts::merge_contacts(&self.pool, account, kept, merged).await
    }

    async fn create_conversation(
        &self,
        account: AccountId,
        new: NewConversation,
        actor: Actor,
    ) -> StoreResult<Conversation> {
        conversations::create_conversation(&self.pool, account, new, actor).await
    }
    async fn get_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        conversations::get_conversation(&self.pool, account, id).await
    }
    async fn list_conversations(
        &self,
        account: AccountId,
        filter: ConversationFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Conversation>> {
        conversations::list_conversations(&self.pool, account, filter, page).await
    }
    async fn change_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
        change: ConversationChange,
        actor: Actor,
    ) -> StoreResult<(Conversation, Option<TimelineItem>)> {
        conversations::change_conversation(&self.pool, account, id, change, actor).await
    }

    async fn append_item(
        &self,
        account: AccountId,
        conversation: ConversationId,
        item: NewItem,
    ) -> StoreResult<Appended> {
        conversations::append_item(&self.pool, account, conversation, item).await
    }
    async fn append_items(&self, appends: Vec<AppendRequest>) -> Vec<StoreResult<Appended>> {
        realtime::append_items(&self.pool, appends).await
    }

    async fn save_bot_turn(
        &self,
        account: AccountId,
        turn: BotTurn,
    ) -> StoreResult<Vec<TimelineItem>> {
        conversations::save_bot_turn(&self.pool, account, turn).await
    }

    async fn get_bot_run(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Option<BotRun>> {
        conversations::get_bot_run(&self.pool, account, conversation).await
    }

    async fn claim_outbox(
        &self,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<crate::outbox::OutboxJob>> {
        outbox::claim_outbox(&self.pool, lease, limit).await
    }
    async fn count_pending_outbox(&self) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        let row = query_one(
            &client,
            "SELECT count(*) FROM outbox WHERE status = 'pending'",
            &[],
        )
        .await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
    }
    async fn finish_outbox(
        &self,
        job: &crate::outbox::OutboxJob,
        outcome: crate::outbox::OutboxOutcome,
    ) -> StoreResult<Option<TimelineItem>> {
        outbox::finish_outbox(&self.pool, job, outcome).await
    }
    async fn email_thread(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<crate::outbox::EmailHeaders>> {
        outbox::email_thread(&self.pool, account, conversation).await
    }
    async fn reply_window(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<(ChannelKind, Option<OffsetDateTime>)> {
        outbox::reply_window(&self.pool, account, conversation).await
    }
    async fn find_messenger_channel(&self, page_id: &str) -> StoreResult<Option<Channel>> {
        outbox::find_messenger_channel_by(&self.pool, "page_id", page_id).await
    }
    async fn find_messenger_channel_by_verify_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<Channel>> {
        outbox::find_messenger_channel_by(&self.pool, "verify_token", token).await
    }
    async fn store_messenger_event(
        &self,
        account: AccountId,
        event: crate::channels::messenger::MessengerInbound,
    ) -> StoreResult<Option<crate::channels::messenger::MessengerStored>> {
        outbox::store_messenger_event(&self.pool, account, event).await
    }
    async fn list_items(
        &self,
        account: AccountId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineItem>> {
        conversations::list_items(&self.pool, account, conversation, after_seq, limit).await
    }

    async fn find_form_channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        forms::find_form_channel(&self.pool, id).await
    }
    async fn store_form_submission(
        &self,
        account: AccountId,
        submission: NewFormSubmission,
    ) -> StoreResult<FormSubmissionStored> {
        forms::store_form_submission(&self.pool, account, submission).await
    }

    async fn create_visitor(
        &self,
        account: AccountId,
        channel: ChannelId,
        token_hash: String,
    ) -> StoreResult<Visitor> {
        realtime::create_visitor(&self.pool, account, channel, token_hash).await
    }
    async fn create_identified_visitor(
        &self,
        account: AccountId,
        channel: ChannelId,
        token_hash: String,
        identity: VisitorIdentity,
    ) -> StoreResult<(Visitor, Contact)> {
        realtime::create_identified_visitor(&self.pool, account, channel, token_hash, identity)
            .await
    }
    async fn set_visitor_email(
        &self,
        account: AccountId,
        visitor: VisitorId,
        email: EmailAddress,
    ) -> StoreResult<Contact> {
        realtime::set_visitor_email(&self.pool, account, visitor, email).await
    }
    async fn find_visitor(&self, token_hash: &str) -> StoreResult<Option<Visitor>> {
        realtime::find_visitor(&self.pool, token_hash).await
    }
    async fn open_visitor_conversation(
        &self,
        account: AccountId,
        visitor: VisitorId,
    ) -> StoreResult<Option<Conversation>> {
        realtime::open_visitor_conversation(&self.pool, account, visitor).await
    }
    async fn agent_loads(
        &self,
        account: AccountId,
        agents: Vec<AgentId>,
    ) -> StoreResult<Vec<AgentLoad>> {
        realtime::agent_loads(&self.pool, account, agents).await
    }
    async fn claim_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        agent: AgentId,
        capacity: Option<u32>,
        actor: Actor,
    ) -> StoreResult<Option<(Conversation, TimelineItem)>> {
        realtime::claim_conversation(&self.pool, account, conversation, agent, capacity, actor)
            .await
    }
    async fn waiting_conversations(
        &self,
        account: AccountId,
        inbox: InboxId,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        realtime::waiting_conversations(&self.pool, account, inbox, limit).await
    }
    async fn mark_read(
        &self,
        account: AccountId,
        conversation: ConversationId,
        reader: Actor,
        seq: i64,
    ) -> StoreResult<i64> {
        realtime::mark_read(&self.pool, account, conversation, reader, seq).await
    }
    async fn read_marks(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<(Actor, i64)>> {
        realtime::read_marks(&self.pool, account, conversation).await
    }

    async fn import_email(
        &self,
        account: AccountId,
        mail: InboundEmail,
    ) -> StoreResult<EmailImport> {
        email::import_email(&self.pool, account, mail).await
    }
    async fn hold_mail(&self, account: AccountId, held: NewHeldMail) -> StoreResult<HeldMail> {
        email::hold_mail(&self.pool, account, held).await
    }
    async fn list_held_mail(
        &self,
        account: AccountId,
        inbox: InboxId,
        page: PageRequest,
    ) -> StoreResult<Page<HeldMail>> {
        email::list_held_mail(&self.pool, account, inbox, page).await
    }
    async fn get_held_mail(
        &self,
        account: AccountId,
        id: Uuid,
    ) -> StoreResult<(HeldMail, Vec<u8>)> {
        email::get_held_mail(&self.pool, account, id).await
    }
    async fn find_fallback_inbox(&self, local_part: &str) -> StoreResult<Option<Inbox>> {
        email::find_fallback_inbox(&self.pool, local_part).await
    }
    async fn all_email_channels(&self) -> StoreResult<Vec<Channel>> {
        email::all_email_channels(&self.pool).await
    }
    async fn take_imap_lease(
        &self,
        channel: ChannelId,
        holder: Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        email::take_imap_lease(&self.pool, channel, holder, now, until).await
    }
    async fn release_imap_lease(&self, channel: ChannelId, holder: Uuid) -> StoreResult<()> {
        email::release_imap_lease(&self.pool, channel, holder).await
    }
    async fn imap_position(&self, channel: ChannelId) -> StoreResult<Option<ImapPosition>> {
        email::imap_position(&self.pool, channel).await
    }
    async fn save_imap_position(
        &self,
        channel: ChannelId,
        mailbox: &str,
        position: ImapPosition,
    ) -> StoreResult<()> {
        email::save_imap_position(&self.pool, channel, mailbox, position).await
    }

    async fn create_ticket(&self, account: AccountId, new: NewTicket) -> StoreResult<Ticket> {
        conversations::create_ticket(&self.pool, account, new).await
    }
    async fn get_ticket(&self, account: AccountId, id: TicketId) -> StoreResult<Ticket> {
        conversations::get_ticket(&self.pool, account, id).await
    }
    async fn update_ticket(
        &self,
        account: AccountId,
        id: TicketId,
        patch: TicketPatch,
    ) -> StoreResult<Ticket> {
        conversations::update_ticket(&self.pool, account, id, patch).await
    }
    async fn list_tickets(
        &self,
        account: AccountId,
        filter: TicketFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Ticket>> {
        conversations::list_tickets(&self.pool, account, filter, page).await
    }

    async fn append_event(&self, account: AccountId, event: NewEvent) -> StoreResult<Event> {
        conversations::append_event(&self.pool, account, event).await
    }
    async fn list_events(
        &self,
        account: AccountId,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        conversations::list_events(&self.pool, account, after_id, limit).await
    }
    async fn report_pending(
        &self,
        account: Option<AccountId>,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<PendingRollup>> {
        reports::report_pending(&self.pool, account, after, limit).await
    }
    async fn report_history(
        &self,
        account: AccountId,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<ReportEventRow>> {
        reports::report_history(&self.pool, account, conversations).await
    }
    async fn save_report_rollups(&self, rollups: &[ReportRollup]) -> StoreResult<()> {
        reports::save_report_rollups(&self.pool, rollups).await
    }
    async fn report_rollups(
        &self,
        account: AccountId,
        scope: ReportScope,
    ) -> StoreResult<Vec<Vec<u8>>> {
        reports::report_rollups(&self.pool, account, scope).await
    }
}
