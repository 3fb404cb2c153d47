//! The embedded SQLite backend (rusqlite, bundled): one file, WAL, foreign keys on.
//!
//! rusqlite is synchronous, so the one connection sits behind a `std::sync::Mutex` and every
//! operation runs on tokio's blocking pool. One connection is enough: SQLite lets one writer in
//! at a time anyway, and serializing in-process means no operation ever waits on `SQLITE_BUSY`
//! (the busy timeout covers other processes opening the same file). Writes run in
//! `BEGIN IMMEDIATE` transactions, so a transaction holds the write lock from its first read
//! (this is how `append_item` "locks the conversation row").
//!
//! The submodules hold the SQL, as plain functions over a `&Connection` inside a transaction
//! opened here; `columns` converts between domain values and SQLite columns.
//!
//! Must not: hold the lock across an `.await`, or panic inside a blocking task (a poisoned lock
//! would turn the store unavailable until restart).

mod columns;
mod contacts;
mod conversations;
mod email;
mod forms;
mod inboxes;
mod outbox;
mod people;
mod realtime;
mod reports;
mod tickets;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use self::columns::Ts;
use super::*;
use crate::meters::{self, StoreOp};

/// How long a statement waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection (the submodules have about 70 fixed ones).
const STATEMENT_CACHE: usize = 128;

/// The embedded store over one SQLite file.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the file at `path` and applies pending
    /// migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&path))
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("opening the SQLite store failed: {e}"))
            })??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| {
                StoreError::Unavailable("the SQLite connection was poisoned by a panic".into())
            })?;
            f(&mut conn).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("SQLite task failed: {e}")))?
    }

    /// Runs `f` in a read transaction, so multi-statement reads see one snapshot.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        let _timer = meters::store_timer(StoreOp::SqliteRead);
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` in a write transaction, committed only when `f` succeeds.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Fail> + Send + 'static,
    {
        let _timer = meters::store_timer(StoreOp::SqliteWrite);
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

fn open_blocking(path: &Path) -> StoreResult<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
        })?;
    }
    let mut conn = Connection::open(path).map_err(|e| {
        StoreError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
    })?;
    configure(&conn).map_err(StoreError::from)?;
    migrate(&mut conn, SQLITE_MIGRATIONS)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), Fail> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Room for every fixed statement of the submodules, so none is prepared twice.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // WAL lets readers in other processes (backups, sqlite3 shell) work while Parley writes.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if !enforced {
        return Err(StoreError::Unavailable(
            "this SQLite build does not enforce foreign keys".into(),
        )
        .into());
    }
    Ok(())
}

/// Applies the migrations not yet recorded in `schema_migrations`, in version order, each in
/// its own transaction. Refuses a database that has a version this binary does not know.
fn migrate(conn: &mut Connection, migrations: &[Migration]) -> StoreResult<()> {
    migrate_inner(conn, migrations).map_err(StoreError::from)
}

fn migrate_inner(conn: &mut Connection, migrations: &[Migration]) -> Result<(), Fail> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version     INTEGER PRIMARY KEY NOT NULL,
            name        TEXT NOT NULL,
            applied_at  INTEGER NOT NULL
        )",
    )?;
    let applied: Vec<(i64, String)> = conn
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if let Some((version, name)) = applied
        .iter()
        .find(|(v, _)| !migrations.iter().any(|m| m.version == *v))
    {
        return Err(StoreError::Unavailable(format!(
            "the database has schema migration {version} ({name}) applied, which this Parley \
             does not know; it was written by a newer Parley: run that version or newer"
        ))
        .into());
    }
    let mut ordered: Vec<&Migration> = migrations.iter().collect();
    ordered.sort_by_key(|m| m.version);
    for migration in ordered {
        // IMMEDIATE, and checked again inside: another process may be migrating the same file.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !done {
            tx.execute_batch(migration.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![migration.version, migration.name, Ts(columns::now())],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// Why an operation failed inside the blocking task, turned into a [`StoreError`] at the edge.
#[derive(Debug)]
enum Fail {
    Store(StoreError),
    Sql(rusqlite::Error),
    Json(serde_json::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

impl From<Fail> for StoreError {
    fn from(fail: Fail) -> Self {
        match fail {
            Fail::Store(e) => e,
            Fail::Sql(e) => sql_error(e),
            Fail::Json(e) => StoreError::backend(e),
        }
    }
}

/// Unique rules the schema enforces: constraint (as SQLite names it), field, message.
const UNIQUE_RULES: &[(&str, &str, &str)] = &[
    (
        "agents.email",
        "email",
        "an agent with this email address already exists",
    ),
    (
        "contacts.email",
        "email",
        "a contact with this email address already exists",
    ),
    (
        "contacts.external_id",
        "external_id",
        "a contact with this user id already exists",
    ),
    (
        "timeline_items.client_id",
        "client_id",
        "an item with this client id already exists in the conversation",
    ),
    (
        "timeline_items.seq",
        "seq",
        "an item with this seq already exists in the conversation",
    ),
    (
        "inboxes.fallback_local_part",
        "fallback_local_part",
        "this fallback address is already in use",
    ),
    (
        "api_tokens.token_hash",
        "token_hash",
        "this token already exists",
    ),
    (
        "visitors.token_hash",
        "token_hash",
        "this visitor token already exists",
    ),
    (
        "sessions.token_hash",
        "token_hash",
        "this session already exists",
    ),
];

fn sql_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &e {
        let message = message.as_deref().unwrap_or("");
        match failure.code {
            ErrorCode::ConstraintViolation => match failure.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    let (field, text) = UNIQUE_RULES
                        .iter()
                        .find(|(constraint, _, _)| message.ends_with(constraint))
                        .map_or(("id", "a row with this id already exists"), |(_, f, t)| {
                            (*f, *t)
                        });
                    return StoreError::Conflict {
                        field,
                        message: text.to_owned(),
                    };
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                    return StoreError::Conflict {
                        field: "id",
                        message: "the change refers to a missing row, or removes one still in use"
                            .into(),
                    };
                }
                _ => {}
            },
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Unavailable(format!("the SQLite file is busy: {e}"));
            }
            _ => {}
        }
    }
    StoreError::backend(e)
}

fn not_found(entity: &'static str) -> Fail {
    Fail::Store(StoreError::NotFound { entity })
}

fn invalid(field: &'static str, message: impl Into<String>) -> Fail {
    Fail::Store(StoreError::Invalid {
        field,
        message: message.into(),
    })
}

/// Whether `table` has the row `id` in `account`. `table` is always a literal of this module.
fn exists(
    c: &Connection,
    table: &'static str,
    account: AccountId,
    id: &dyn rusqlite::ToSql,
) -> Result<bool, Fail> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE account_id = ?1 AND id = ?2)");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![account, id], |r| r.get(0))?)
}

/// `Invalid { field }` unless `id` is a row of `table` in `account`.
fn require_ref<I: rusqlite::ToSql + std::fmt::Display>(
    c: &Connection,
    table: &'static str,
    account: AccountId,
    id: &I,
    field: &'static str,
    what: &str,
) -> Result<(), Fail> {
    if exists(c, table, account, id)? {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{what} {id} is not in this account"),
        ))
    }
}

/// A member list as stored: sorted, without duplicates, every id an agent of `account`.
fn checked_members(
    c: &Connection,
    account: AccountId,
    mut ids: Vec<AgentId>,
) -> Result<Vec<AgentId>, Fail> {
    ids.sort();
    ids.dedup();
    for id in &ids {
        require_ref(c, "agents", account, id, "member_ids", "agent")?;
    }
    Ok(ids)
}

/// The agent behind an actor, for the `agent_id` of report events.
fn actor_agent(actor: Actor) -> Option<AgentId> {
    match actor {
        Actor::Agent(id) => Some(id),
        Actor::Contact(_) | Actor::Bot | Actor::System => None,
    }
}

/// Keyset paging over rows fetched with `LIMIT limit + 1`, newest first.
fn into_page<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> uuid::Uuid) -> Page<T> {
    let limit = limit as usize;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(id)
    } else {
        None
    };
    Page { items: rows, next }
}

/// A `WHERE` clause built from optional filters, with its positional arguments.
struct Filter {
    sql: String,
    args: Vec<Box<dyn rusqlite::ToSql>>,
}

impl Filter {
    fn new(account: AccountId) -> Self {
        Self {
            sql: "account_id = ?".into(),
            args: vec![Box::new(account)],
        }
    }

    fn eq<T: rusqlite::ToSql + 'static>(&mut self, column: &str, value: Option<T>) {
        if let Some(value) = value {
            self.sql.push_str(&format!(" AND {column} = ?"));
            self.args.push(Box::new(value));
        }
    }

    fn any_of<T: rusqlite::ToSql + 'static>(&mut self, column: &str, values: Option<Vec<T>>) {
        let Some(values) = values else { return };
        if values.is_empty() {
            self.sql.push_str(" AND 0");
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.sql.push_str(&format!(" AND {column} IN ({marks})"));
        for value in values {
            self.args.push(Box::new(value));
        }
    }

    fn condition(&mut self, sql: &str, args: Vec<Box<dyn rusqlite::ToSql>>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(sql);
        self.args.extend(args);
    }

    /// Rows older than the cursor, newest first, one more than `limit` to tell if more exist.
    fn page_query(mut self, table: &str, columns: &str, page: PageRequest) -> (String, Self) {
        if let Some(after) = page.after {
            self.sql.push_str(" AND id < ?");
            self.args.push(Box::new(columns::SqlUuid(after)));
        }
        self.args
            .push(Box::new(i64::from(page.clamped_limit()) + 1));
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY id DESC LIMIT ?",
            self.sql
        );
        (sql, self)
    }

    fn params(&self) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, Box<dyn rusqlite::ToSql>>> {
        rusqlite::params_from_iter(self.args.iter())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn create_account(&self, name: Name) -> StoreResult<Account> {
        self.write(move |c| people::create_account(c, name)).await
    }
    async fn get_account(&self, id: AccountId) -> StoreResult<Account> {
        self.read(move |c| people::get_account(c, id)).await
    }
    async fn count_accounts(&self) -> StoreResult<u64> {
        self.read(people::count_accounts).await
    }

    async fn create_agent(&self, account: AccountId, new: NewAgent) -> StoreResult<Agent> {
        self.write(move |c| people::create_agent(c, account, new))
            .await
    }
    async fn get_agent(&self, account: AccountId, id: AgentId) -> StoreResult<Agent> {
        self.read(move |c| people::get_agent(c, account, id)).await
    }
    async fn list_agents(&self, account: AccountId) -> StoreResult<Vec<Agent>> {
        self.read(move |c| people::list_agents(c, account)).await
    }
    async fn update_agent(
        &self,
        account: AccountId,
        id: AgentId,
        patch: AgentPatch,
    ) -> StoreResult<Agent> {
        self.write(move |c| people::update_agent(c, account, id, patch))
            .await
    }
    async fn find_login(&self, email: &EmailAddress) -> StoreResult<Option<LoginRecord>> {
        let email = email.clone();
        self.read(move |c| people::find_login(c, &email)).await
    }

    async fn create_session(&self, session: Session) -> StoreResult<()> {
        self.write(move |c| people::create_session(c, session))
            .await
    }
    async fn find_session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(Session, Agent)>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| people::find_session(c, token_hash, now))
            .await
    }
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |c| people::delete_session(c, &token_hash))
            .await
    }
    async fn delete_agent_sessions(
        &self,
        account: AccountId,
        agent: AgentId,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        let keep = keep.map(str::to_owned);
        self.write(move |c| people::delete_agent_sessions(c, account, agent, keep.as_deref()))
            .await
    }
    async fn create_api_token(
        &self,
        account: AccountId,
        agent: AgentId,
        name: Name,
        token_hash: String,
    ) -> StoreResult<ApiToken> {
        self.write(move |c| people::create_api_token(c, account, agent, name, token_hash))
            .await
    }
    async fn list_api_tokens(
        &self,
        account: AccountId,
        agent: AgentId,
    ) -> StoreResult<Vec<ApiToken>> {
        self.read(move |c| people::list_api_tokens(c, account, agent))
            .await
    }
    async fn delete_api_token(&self, account: AccountId, id: ApiTokenId) -> StoreResult<()> {
        self.write(move |c| people::delete_api_token(c, account, id))
            .await
    }
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<(ApiToken, Agent)>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| people::find_api_token(c, &token_hash))
            .await
    }

    async fn create_team(
        &self,
        account: AccountId,
        name: Name,
        member_ids: Vec<AgentId>,
    ) -> StoreResult<Team> {
        self.write(move |c| people::create_team(c, account, name, member_ids))
            .await
    }
    async fn get_team(&self, account: AccountId, id: TeamId) -> StoreResult<Team> {
        self.read(move |c| people::get_team(c, account, id)).await
    }
    async fn list_teams(&self, account: AccountId) -> StoreResult<Vec<Team>> {
        self.read(move |c| people::list_teams(c, account)).await
    }
    async fn update_team(
        &self,
        account: AccountId,
        id: TeamId,
        name: Option<Name>,
        member_ids: Option<Vec<AgentId>>,
    ) -> StoreResult<Team> {
        self.write(move |c| people::update_team(c, account, id, name, member_ids))
            .await
    }
    async fn delete_team(&self, account: AccountId, id: TeamId) -> StoreResult<()> {
        self.write(move |c| people::delete_team(c, account, id))
            .await
    }

    async fn create_inbox(&self, account: AccountId, new: NewInbox) -> StoreResult<Inbox> {
        self.write(move |c| inboxes::create_inbox(c, account, new))
            .await
    }
    async fn get_inbox(&self, account: AccountId, id: InboxId) -> StoreResult<Inbox> {
        self.read(move |c| inboxes::get_inbox(c, account, id)).await
    }
    async fn list_inboxes(
        &self,
        account: AccountId,
        member: Option<AgentId>,
    ) -> StoreResult<Vec<Inbox>> {
        self.read(move |c| inboxes::list_inboxes(c, account, member))
            .await
    }
    async fn update_inbox(
        &self,
        account: AccountId,
        id: InboxId,
        patch: InboxPatch,
    ) -> StoreResult<Inbox> {
        self.write(move |c| inboxes::update_inbox(c, account, id, patch))
            .await
    }
    async fn set_inbox_members(
        &self,
        account: AccountId,
        id: InboxId,
        member_ids: Vec<AgentId>,
    ) -> StoreResult<Inbox> {
        self.write(move |c| inboxes::set_inbox_members(c, account, id, member_ids))
            .await
    }
    async fn delete_inbox(&self, account: AccountId, id: InboxId) -> StoreResult<()> {
        self.write(move |c| inboxes::delete_inbox(c, account, id))
            .await
    }

    async fn create_channel(&self, account: AccountId, new: NewChannel) -> StoreResult<Channel> {
        self.write(move |c| inboxes::create_channel(c, account, new))
            .await
    }
    async fn get_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<Channel> {
        self.read(move |c| inboxes::get_channel(c, account, id))
            .await
    }
    async fn list_channels(
        &self,
        account: AccountId,
        inbox: Option<InboxId>,
    ) -> StoreResult<Vec<Channel>> {
        self.read(move |c| inboxes::list_channels(c, account, inbox))
            .await
    }
    async fn update_channel(
        &self,
        account: AccountId,
        id: ChannelId,
        patch: ChannelPatch,
    ) -> StoreResult<Channel> {
        self.write(move |c| inboxes::update_channel(c, account, id, patch))
            .await
    }
    async fn delete_channel(&self, account: AccountId, id: ChannelId) -> StoreResult<()> {
        self.write(move |c| inboxes::delete_channel(c, account, id))
            .await
    }

    async fn create_chatflow(&self, account: AccountId, new: NewChatflow) -> StoreResult<Chatflow> {
        self.write(move |c| inboxes::create_chatflow(c, account, new))
            .await
    }
    async fn get_chatflow(&self, account: AccountId, id: ChatflowId) -> StoreResult<Chatflow> {
        self.read(move |c| inboxes::get_chatflow(c, account, id))
            .await
    }
    async fn list_chatflows(
        &self,
        account: AccountId,
        channel: ChannelId,
    ) -> StoreResult<Vec<Chatflow>> {
        self.read(move |c| inboxes::list_chatflows(c, account, channel))
            .await
    }
    async fn update_chatflow(
        &self,
        account: AccountId,
        id: ChatflowId,
        patch: ChatflowPatch,
    ) -> StoreResult<Chatflow> {
        self.write(move |c| inboxes::update_chatflow(c, account, id, patch))
            .await
    }
    async fn delete_chatflow(&self, account: AccountId, id: ChatflowId) -> StoreResult<()> {
        self.write(move |c| inboxes::delete_chatflow(c, account, id))
            .await
    }

    async fn create_contact(&self, account: AccountId, new: NewContact) -> StoreResult<Contact> {
        self.write(move |c| contacts::create_contact(c, account, new))
            .await
    }
    async fn get_contact(&self, account: AccountId, id: ContactId) -> StoreResult<Contact> {
        self.read(move |c| contacts::get_contact(c, account, id))
            .await
    }
    async fn update_contact(
        &self,
        account: AccountId,
        id: ContactId,
        patch: ContactPatch,
    ) -> StoreResult<Contact> {
        self.write(move |c| contacts::update_contact(c, account, id, patch))
            .await
    }
    async fn search_contacts(
        &self,
        account: AccountId,
        query: ContactQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Contact>> {
        self.read(move |c| contacts::search_contacts(c, account, query, page))
            .await
    }
    async fn merge_contacts(
        &self,
        account: AccountId,
        kept: ContactId,
        merged: ContactId,
    ) -> StoreResult<Contact> {
        self.write(move |c| contacts::merge_contacts(c, account, kept, merged))
            .await
    }

    async fn create_conversation(
        &self,
        account: AccountId,
        new: NewConversation,
        actor: Actor,
    ) -> StoreResult<Conversation> {
        self.write(move |c| conversations::create_conversation(c, account, new, actor))
            .await
    }
    async fn get_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        self.read(move |c| conversations::get_conversation(c, account, id))
            .await
    }
    async fn list_conversations(
        &self,
        account: AccountId,
        filter: ConversationFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Conversation>> {
        self.read(move |c| conversations::list_conversations(c, account, filter, page))
            .await
    }
    async fn change_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
        change: ConversationChange,
        actor: Actor,
    ) -> StoreResult<(Conversation, Option<TimelineItem>)> {
        self.write(move |c| conversations::change_conversation(c, account, id, change, actor))
            .await
    }

    async fn append_item(
        &self,
        account: AccountId,
        conversation: ConversationId,
        item: NewItem,
    ) -> StoreResult<Appended> {
        self.write(move |c| conversations::append_item(c, account, conversation, item))
            .await
    }
    async fn append_items(&self, appends: Vec<AppendRequest>) -> Vec<StoreResult<Appended>> {
        let count = appends.len();
        match self
            .write(move |c| realtime::append_items(c, appends))
            .await
        {
            Ok(results) => results,
            Err(e) => (0..count).map(|_| Err(e.for_each_caller())).collect(),
        }
    }

    async fn save_bot_turn(
        &self,
        account: AccountId,
        turn: BotTurn,
    ) -> StoreResult<Vec<TimelineItem>> {
        self.write(move |c| conversations::save_bot_turn(c, account, turn))
            .await
    }

    async fn get_bot_run(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Option<BotRun>> {
        self.read(move |c| conversations::get_bot_run(c, account, conversation))
            .await
    }

    async fn claim_outbox(
        &self,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<crate::outbox::OutboxJob>> {
        self.write(move |c| outbox::claim_outbox(c, lease, limit))
            .await
    }
    async fn count_pending_outbox(&self) -> StoreResult<u64> {
        self.read(|c| {
            let pending: i64 = c.query_row(
                "SELECT count(*) FROM outbox WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(pending).unwrap_or(0))
        })
        .await
    }
    async fn finish_outbox(
        &self,
        job: &crate::outbox::OutboxJob,
        outcome: crate::outbox::OutboxOutcome,
    ) -> StoreResult<Option<TimelineItem>> {
        let job = job.clone();
        self.write(move |c| outbox::finish_outbox(c, &job, outcome))
            .await
    }
    async fn email_thread(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<crate::outbox::EmailHeaders>> {
        self.read(move |c| outbox::email_thread(c, account, conversation))
            .await
    }
    async fn reply_window(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<(ChannelKind, Option<OffsetDateTime>)> {
        self.read(move |c| outbox::reply_window(c, account, conversation))
            .await
    }
    async fn find_messenger_channel(&self, page_id: &str) -> StoreResult<Option<Channel>> {
        let page_id = page_id.to_owned();
        self.read(move |c| outbox::find_messenger_channel_by(c, "page_id", &page_id))
            .await
    }
    async fn find_messenger_channel_by_verify_token(
        &self,
        token: &str,
    ) -> StoreResult<Option<Channel>> {
        let token = token.to_owned();
        self.read(move |c| outbox::find_messenger_channel_by(c, "verify_token", &token))
            .await
    }
    async fn store_messenger_event(
        &self,
        account: AccountId,
        event: crate::channels::messenger::MessengerInbound,
    ) -> StoreResult<Option<crate::channels::messenger::MessengerStored>> {
        self.write(move |c| outbox::store_messenger_event(c, account, event))
            .await
    }
    async fn list_items(
        &self,
        account: AccountId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineItem>> {
        self.read(move |c| conversations::list_items(c, account, conversation, after_seq, limit))
            .await
    }

    async fn create_visitor(
        &self,
        account: AccountId,
        channel: ChannelId,
        token_hash: String,
    ) -> StoreResult<Visitor> {
        self.write(move |c| realtime::create_visitor(c, account, channel, token_hash))
            .await
    }
    async fn create_identified_visitor(
        &self,
        account: AccountId,
        channel: ChannelId,
        token_hash: String,
        identity: VisitorIdentity,
    ) -> StoreResult<(Visitor, Contact)> {
        self.write(move |c| {
            realtime::create_identified_visitor(c, account, channel, token_hash, identity)
        })
        .await
    }
    async fn set_visitor_email(
        &self,
        account: AccountId,
        visitor: VisitorId,
        email: EmailAddress,
    ) -> StoreResult<Contact> {
        self.write(move |c| realtime::set_visitor_email(c, account, visitor, email))
            .await
    }
    async fn find_visitor(&self, token_hash: &str) -> StoreResult<Option<Visitor>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| realtime::find_visitor(c, &token_hash))
            .await
    }
    async fn open_visitor_conversation(
        &self,
        account: AccountId,
        visitor: VisitorId,
    ) -> StoreResult<Option<Conversation>> {
        self.read(move |c| realtime::open_visitor_conversation(c, account, visitor))
            .await
    }
    async fn agent_loads(
        &self,
        account: AccountId,
        agents: Vec<AgentId>,
    ) -> StoreResult<Vec<AgentLoad>> {
        self.read(move |c| realtime::agent_loads(c, account, agents))
            .await
    }
    async fn claim_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        agent: AgentId,
        capacity: Option<u32>,
        actor: Actor,
    ) -> StoreResult<Option<(Conversation, TimelineItem)>> {
        self.write(move |c| {
            realtime::claim_conversation(c, account, conversation, agent, capacity, actor)
        })
        .await
    }
    async fn waiting_conversations(
        &self,
        account: AccountId,
        inbox: InboxId,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        self.read(move |c| realtime::waiting_conversations(c, account, inbox, limit))
            .await
    }
    async fn mark_read(
        &self,
        account: AccountId,
        conversation: ConversationId,
        reader: Actor,
        seq: i64,
    ) -> StoreResult<i64> {
        self.write(move |c| realtime::mark_read(c, account, conversation, reader, seq))
            .await
    }
    async fn read_marks(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<(Actor, i64)>> {
        self.read(move |c| realtime::read_marks(c, account, conversation))
            .await
    }

    async fn find_form_channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        self.read(move |c| forms::find_form_channel(c, id)).await
    }
    async fn store_form_submission(
        &self,
        account: AccountId,
        submission: NewFormSubmission,
    ) -> StoreResult<FormSubmissionStored> {
        self.write(move |c| forms::store_form_submission(c, account, submission))
            .await
    }
    async fn import_email(
        &self,
        account: AccountId,
        mail: InboundEmail,
    ) -> StoreResult<EmailImport> {
        self.write(move |c| email::import_email(c, account, mail))
            .await
    }
    async fn hold_mail(&self, account: AccountId, held: NewHeldMail) -> StoreResult<HeldMail> {
        self.write(move |c| email::hold_mail(c, account, held))
            .await
    }
    async fn list_held_mail(
        &self,
        account: AccountId,
        inbox: InboxId,
        page: PageRequest,
    ) -> StoreResult<Page<HeldMail>> {
        self.read(move |c| email::list_held_mail(c, account, inbox, page))
            .await
    }
    async fn get_held_mail(
        &self,
        account: AccountId,
        id: uuid::Uuid,
    ) -> StoreResult<(HeldMail, Vec<u8>)> {
        self.read(move |c| email::get_held_mail(c, account, id))
            .await
    }
    async fn find_fallback_inbox(&self, local_part: &str) -> StoreResult<Option<Inbox>> {
        let local_part = local_part.to_owned();
        self.read(move |c| email::find_fallback_inbox(c, &local_part))
            .await
    }
    async fn all_email_channels(&self) -> StoreResult<Vec<Channel>> {
        self.read(email::all_email_channels).await
    }
    async fn take_imap_lease(
        &self,
        channel: ChannelId,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.write(move |c| email::take_imap_lease(c, channel, holder, now, until))
            .await
    }
    async fn release_imap_lease(&self, channel: ChannelId, holder: uuid::Uuid) -> StoreResult<()> {
        self.write(move |c| email::release_imap_lease(c, channel, holder))
            .await
    }
    async fn imap_position(&self, channel: ChannelId) -> StoreResult<Option<ImapPosition>> {
        self.read(move |c| email::imap_position(c, channel)).await
    }
    async fn save_imap_position(
        &self,
        channel: ChannelId,
        mailbox: &str,
        position: ImapPosition,
    ) -> StoreResult<()> {
        let mailbox = mailbox.to_owned();
        self.write(move |c| email::save_imap_position(c, channel, &mailbox, position))
            .await
    }

    async fn create_ticket(&self, account: AccountId, new: NewTicket) -> StoreResult<Ticket> {
        self.write(move |c| tickets::create_ticket(c, account, new))
            .await
    }
    async fn get_ticket(&self, account: AccountId, id: TicketId) -> StoreResult<Ticket> {
        self.read(move |c| tickets::get_ticket(c, account, id))
            .await
    }
    async fn update_ticket(
        &self,
        account: AccountId,
        id: TicketId,
        patch: TicketPatch,
    ) -> StoreResult<Ticket> {
        self.write(move |c| tickets::update_ticket(c, account, id, patch))
            .await
    }
    async fn list_tickets(
        &self,
        account: AccountId,
        filter: TicketFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Ticket>> {
        self.read(move |c| tickets::list_tickets(c, account, filter, page))
            .await
    }

    async fn append_event(&self, account: AccountId, event: NewEvent) -> StoreResult<Event> {
        self.write(move |c| conversations::append_event(c, account, event))
            .await
    }
    async fn list_events(
        &self,
        account: AccountId,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        self.read(move |c| conversations::list_events(c, account, after_id, limit))
            .await
    }
    async fn report_pending(
        &self,
        account: Option<AccountId>,
        after: Option<ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<PendingRollup>> {
        self.read(move |c| reports::report_pending(c, account, after, limit))
            .await
    }
    async fn report_history(
        &self,
        account: AccountId,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<ReportEventRow>> {
        let conversations = conversations.to_vec();
        self.read(move |c| reports::report_history(c, account, &conversations))
            .await
    }
    async fn save_report_rollups(&self, rollups: &[ReportRollup]) -> StoreResult<()> {
        let rollups = rollups.to_vec();
        self.write(move |c| reports::save_report_rollups(c, &rollups))
            .await
    }
    async fn report_rollups(
        &self,
        account: AccountId,
        scope: ReportScope,
    ) -> StoreResult<Vec<Vec<u8>>> {
        self.read(move |c| reports::report_rollups(c, account, scope))
            .await
    }
}
