//! What the real-time core needs on PostgreSQL (docs/store.md "Real-time"): visitors, agents'
//! loads, atomic claims for routing, the routing queue, read marks, and appends in batches.
//!
//! A claim locks the conversation row, then the agent's row (`SELECT … FOR UPDATE`), and only
//! then counts the agent's open conversations: two nodes claiming for the same agent queue on
//! the agent's row, and the second counts after the first has committed, so capacity holds
//! across nodes. Conversation before agent is the order `change_conversation` takes them in
//! too (it stamps the assignee's `last_assigned_at`), so the two never deadlock.
//!
//! A batch of appends (`append_items`) locks all its conversations with one statement, in id
//! order, so two batches sharing conversations queue instead of deadlocking; a single
//! `append_item` locks one conversation and waits its turn the same way. Everything else is set
//! at a time: one statement reads the client ids already stored, one inserts every new item
//! (arrays through `unnest`), one moves each conversation's `last_seq`, one writes the report
//! events, pipelined in two round trips. So a batch of 256 costs fewer round trips than one
//! `append_item`, and one commit.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::contacts::{read_contact, write_contact};
use super::conversations::{
    ItemFact, ItemRow, append_item, assign, lock_conversation, new_item_row, read_conversation,
};
use super::rows::{actor_agent, actor_columns};
use super::{execute, not_found, now, query, query_one, query_opt, rows};
use crate::domain::*;
use crate::store::{AppendRequest, MAX_PAGE_SIZE, StoreError, StoreResult};

fn visitor(row: &Row) -> StoreResult<Visitor> {
    Ok(Visitor {
        id: VisitorId(row.try_get("id")?),
        account_id: AccountId(row.try_get("account_id")?),
        channel_id: ChannelId(row.try_get("channel_id")?),
        contact_id: ContactId(row.try_get("contact_id")?),
        created_at: row.try_get("created_at")?,
    })
}

fn invalid(field: &'static str, message: String) -> StoreError {
    StoreError::Invalid { field, message }
}

pub(super) async fn create_visitor(
    pool: &Pool,
    account: AccountId,
    channel: ChannelId,
    token_hash: String,
) -> StoreResult<Visitor> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    require_chat_channel(&tx, account, channel).await?;
    let contact_id = ContactId::new();
    execute(
        &tx,
        "INSERT INTO contacts (id, account_id, properties, created_at, updated_at) \
         VALUES ($1, $2, '{}'::jsonb, $3, $3)",
        &[&contact_id.0, &account.0, &now()],
    )
    .await?;
    let visitor = insert_visitor(&tx, account, channel, contact_id, &token_hash).await?;
    tx.commit().await?;
    Ok(visitor)
}

async fn require_chat_channel(
    client: &impl GenericClient,
    account: AccountId,
    channel: ChannelId,
) -> StoreResult<()> {
    let kind = query_opt(
        client,
        "SELECT kind FROM channels WHERE account_id = $1 AND id = $2",
        &[&account.0, &channel.0],
    )
    .await?
    .ok_or_else(|| {
        invalid(
            "channel_id",
            format!("channel {channel} is not in this account"),
        )
    })?;
    let kind: String = kind.try_get("kind")?;
    if kind != ChannelKind::Chat.as_str() {
        return Err(invalid(
            "channel_id",
            format!("channel {channel} is a {kind} channel; visitors come through chat"),
        ));
    }
    Ok(())
}

async fn insert_visitor(
    client: &impl GenericClient,
    account: AccountId,
    channel: ChannelId,
    contact: ContactId,
    token_hash: &str,
) -> StoreResult<Visitor> {
    let row = query_one(
        client,
        "INSERT INTO visitors (id, account_id, channel_id, contact_id, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, account_id, channel_id, contact_id, created_at",
        &[
            &VisitorId::new().0,
            &account.0,
            &channel.0,
            &contact.0,
            &token_hash,
            &now(),
        ],
    )
    .await?;
    visitor(&row)
}

/// A visitor holding the contact of a verified identity (see `Store::create_identified_visitor`).
/// A contact created meanwhile by another node (the same person opening two devices at once)
/// is found rather than refused: the insert does nothing on a conflict and the lookup repeats.
pub(super) async fn create_identified_visitor(
    pool: &Pool,
    account: AccountId,
    channel: ChannelId,
    token_hash: String,
    identity: VisitorIdentity,
) -> StoreResult<(Visitor, Contact)> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    require_chat_channel(&tx, account, channel).await?;
    let contact = match identity {
        VisitorIdentity::User { external_id, email } => {
            // The email was not signed: it may only land on this user's contact, and only where
            // no other contact already holds it.
            let email = match email {
                Some(e)
                    if contact_by(&tx, account, "email", e.as_str())
                        .await?
                        .is_none() =>
                {
                    Some(e)
                }
                _ => None,
            };
            let id = external_id.as_str();
            match contact_by(&tx, account, "external_id", id).await? {
                Some(mut found) => {
                    if found.email.is_none() && email.is_some() {
                        found.email = email;
                        found.email_unverified = true;
                        found = write_contact(&tx, &found).await?;
                    }
                    found
                }
                None => {
                    insert_contact_or_nothing(&tx, account, email.as_ref(), Some(id), true).await?;
                    match contact_by(&tx, account, "external_id", id).await? {
                        Some(found) => found,
                        // The email was taken meanwhile, which made the insert do nothing:
                        // the user's contact goes without it.
                        None => {
                            insert_contact_or_nothing(&tx, account, None, Some(id), false).await?;
                            contact_by(&tx, account, "external_id", id)
                                .await?
                                .ok_or_else(email_taken)?
                        }
                    }
                }
            }
        }
        VisitorIdentity::Email(email) => {
            match contact_by(&tx, account, "email", email.as_str()).await? {
                Some(found) if !found.email_unverified => found,
                found => {
                    if let Some(mut claimed) = found {
                        // Typed by some visitor, unchecked: the signed owner takes the address.
                        claimed.email = None;
                        claimed.email_unverified = false;
                        claimed
                            .properties
                            .insert(GIVEN_EMAIL_PROPERTY.into(), email.as_str().into());
                        write_contact(&tx, &claimed).await?;
                    }
                    insert_contact_or_nothing(&tx, account, Some(&email), None, false).await?;
                    contact_by(&tx, account, "email", email.as_str())
                        .await?
                        .ok_or_else(email_taken)?
                }
            }
        }
    };
    let visitor = insert_visitor(&tx, account, channel, contact.id, &token_hash).await?;
    tx.commit().await?;
    Ok((visitor, contact))
}

/// See `Store::set_visitor_email`. The contact row is locked, so two emails given at once
/// apply one after the other.
pub(super) async fn set_visitor_email(
    pool: &Pool,
    account: AccountId,
    visitor_id: VisitorId,
    email: EmailAddress,
) -> StoreResult<Contact> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let found = query_opt(
        &tx,
        "SELECT id, account_id, channel_id, contact_id, created_at FROM visitors \
         WHERE account_id = $1 AND id = $2",
        &[&account.0, &visitor_id.0],
    )
    .await?
    .ok_or(not_found("visitor"))?;
    let found = visitor(&found)?;
    let mut contact = read_contact(&tx, account, found.contact_id, true).await?;
    if contact.email.as_ref() == Some(&email) {
        return Ok(contact);
    }
    if contact.email.is_none()
        && contact_by(&tx, account, "email", email.as_str())
            .await?
            .is_none()
    {
        contact.email = Some(email);
        contact.email_unverified = true;
    } else {
        contact
            .properties
            .insert(GIVEN_EMAIL_PROPERTY.into(), email.as_str().into());
    }
    let contact = write_contact(&tx, &contact).await?;
    tx.commit().await?;
    Ok(contact)
}

/// Only reached when a contact with the value looked for was inserted and then deleted (e.g.
/// merged away) between this transaction's insert and its lookup.
fn email_taken() -> StoreError {
    StoreError::Conflict {
        field: "email",
        message: "a contact with this email already exists".into(),
    }
}

/// The account's contact whose `column` (email or external_id) is `value`.
async fn contact_by(
    client: &impl GenericClient,
    account: AccountId,
    column: &'static str,
    value: &str,
) -> StoreResult<Option<Contact>> {
    let sql = format!(
        "SELECT {} FROM contacts WHERE account_id = $1 AND {column} = $2",
        contact_columns!()
    );
    query_opt(client, &sql, &[&account.0, &value])
        .await?
        .as_ref()
        .map(rows::contact)
        .transpose()
}

/// `email_unverified` is set only when an email is given.
async fn insert_contact_or_nothing(
    client: &impl GenericClient,
    account: AccountId,
    email: Option<&EmailAddress>,
    external_id: Option<&str>,
    email_unverified: bool,
) -> StoreResult<()> {
    execute(
        client,
        "INSERT INTO contacts (id, account_id, email, external_id, email_unverified, properties, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, '{}'::jsonb, $6, $6) ON CONFLICT DO NOTHING",
        &[
            &ContactId::new().0,
            &account.0,
            &email.map(EmailAddress::as_str),
            &external_id,
            &(email_unverified && email.is_some()),
            &now(),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn find_visitor(pool: &Pool, token_hash: &str) -> StoreResult<Option<Visitor>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        "SELECT id, account_id, channel_id, contact_id, created_at FROM visitors \
         WHERE token_hash = $1",
        &[&token_hash],
    )
    .await?
    .as_ref()
    .map(visitor)
    .transpose()
}

pub(super) async fn open_visitor_conversation(
    pool: &Pool,
    account: AccountId,
    visitor_id: VisitorId,
) -> StoreResult<Option<Conversation>> {
    let client = pool.get().await?;
    let found = query_opt(
        &client,
        "SELECT id, account_id, channel_id, contact_id, created_at FROM visitors \
         WHERE account_id = $1 AND id = $2",
        &[&account.0, &visitor_id.0],
    )
    .await?
    .ok_or(not_found("visitor"))?;
    let found = visitor(&found)?;
    query_opt(
        &client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND contact_id = $2 \
              AND channel_id = $3 AND status <> 'closed' ORDER BY id DESC LIMIT 1"
        ),
        &[&account.0, &found.contact_id.0, &found.channel_id.0],
    )
    .await?
    .as_ref()
    .map(rows::conversation)
    .transpose()
}

pub(super) async fn agent_loads(
    pool: &Pool,
    account: AccountId,
    agents: Vec<AgentId>,
) -> StoreResult<Vec<AgentLoad>> {
    let client = pool.get().await?;
    let ids: Vec<Uuid> = agents.into_iter().map(|a| a.0).collect();
    query(
        &client,
        "SELECT a.id, a.last_assigned_at, \
           (SELECT count(*) FROM conversations c \
            WHERE c.account_id = a.account_id AND c.assignee_id = a.id \
              AND c.status IN ('open', 'pending')) AS open \
         FROM agents a WHERE a.account_id = $1 AND a.id = ANY($2) ORDER BY a.id",
        &[&account.0, &ids],
    )
    .await?
    .iter()
    .map(|row| {
        let open: i64 = row.try_get("open")?;
        Ok(AgentLoad {
            agent_id: AgentId(row.try_get("id")?),
            open: u32::try_from(open).unwrap_or(u32::MAX),
            last_assigned_at: row.try_get("last_assigned_at")?,
        })
    })
    .collect()
}

pub(super) async fn claim_conversation(
    pool: &Pool,
    account: AccountId,
    id: ConversationId,
    agent: AgentId,
    capacity: Option<u32>,
    actor: Actor,
) -> StoreResult<Option<(Conversation, TimelineItem)>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (conversation, _) = lock_conversation(&tx, account, id).await?;
    let locked = query_opt(
        &tx,
        "SELECT id FROM agents WHERE account_id = $1 AND id = $2 FOR UPDATE",
        &[&account.0, &agent.0],
    )
    .await?;
    if locked.is_none() {
        return Err(invalid(
            "agent_id",
            format!("agent {agent} is not in this account"),
        ));
    }
    if conversation.status == ConversationStatus::Closed || conversation.assignee_id.is_some() {
        return Ok(None);
    }
    if let Some(capacity) = capacity {
        // A new statement, so (READ COMMITTED) it sees every claim committed before this
        // transaction got the agent's lock.
        let open: i64 = query_one(
            &tx,
            "SELECT count(*) FROM conversations \
             WHERE account_id = $1 AND assignee_id = $2 AND status IN ('open', 'pending')",
            &[&account.0, &agent.0],
        )
        .await?
        .try_get(0)?;
        if open >= i64::from(capacity) {
            return Ok(None);
        }
    }
    let team = conversation.team_id;
    let claimed = assign(&tx, &conversation, Some(agent), team, actor).await?;
    tx.commit().await?;
    Ok(Some(claimed))
}

pub(super) async fn waiting_conversations(
    pool: &Pool,
    account: AccountId,
    inbox: InboxId,
    limit: u32,
) -> StoreResult<Vec<Conversation>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND inbox_id = $2 \
              AND status = 'open' AND assignee_id IS NULL ORDER BY id LIMIT $3"
        ),
        &[
            &account.0,
            &inbox.0,
            &i64::from(limit.clamp(1, MAX_PAGE_SIZE)),
        ],
    )
    .await?
    .iter()
    .map(rows::conversation)
    .collect()
}

/// An actor as the two key columns of `read_marks`: bot and system take the nil UUID.
fn reader_columns(reader: Actor) -> (&'static str, Uuid) {
    let (kind, id) = actor_columns(reader);
    (kind, id.unwrap_or(Uuid::nil()))
}

pub(super) async fn mark_read(
    pool: &Pool,
    account: AccountId,
    conversation: ConversationId,
    reader: Actor,
    seq: i64,
) -> StoreResult<i64> {
    let client = pool.get().await?;
    let (kind, id) = reader_columns(reader);
    // One statement: the clamp reads `last_seq` and GREATEST keeps the mark from going back when
    // receipts arrive out of order. No conversation row: nothing inserted, NotFound.
    let row = query_opt(
        &client,
        "INSERT INTO read_marks (account_id, conversation_id, reader_type, reader_id, seq, \
           updated_at) \
         SELECT c.account_id, c.id, $3::text, $4::uuid, \
                LEAST(GREATEST($5::bigint, 0), c.last_seq), $6::timestamptz \
         FROM conversations c WHERE c.account_id = $1 AND c.id = $2 \
         ON CONFLICT (conversation_id, reader_type, reader_id) DO UPDATE \
         SET seq = GREATEST(read_marks.seq, excluded.seq), updated_at = excluded.updated_at \
         RETURNING seq",
        &[&account.0, &conversation.0, &kind, &id, &seq, &now()],
    )
    .await?
    .ok_or(not_found("conversation"))?;
    Ok(row.try_get("seq")?)
}

pub(super) async fn read_marks(
    pool: &Pool,
    account: AccountId,
    conversation: ConversationId,
) -> StoreResult<Vec<(Actor, i64)>> {
    let client = pool.get().await?;
    read_conversation(&client, account, conversation).await?;
    query(
        &client,
        "SELECT reader_type, reader_id, seq FROM read_marks \
         WHERE account_id = $1 AND conversation_id = $2 ORDER BY reader_type, reader_id",
        &[&account.0, &conversation.0],
    )
    .await?
    .iter()
    .map(|row| {
        let kind: String = row.try_get("reader_type")?;
        let id: Uuid = row.try_get("reader_id")?;
        let actor = match kind.as_str() {
            "agent" => Actor::Agent(AgentId(id)),
            "contact" => Actor::Contact(ContactId(id)),
            "bot" => Actor::Bot,
            "system" => Actor::System,
            other => {
                return Err(StoreError::backend(super::error::Corrupt {
                    what: "reader_type",
                    detail: other.to_owned(),
                }));
            }
        };
        Ok((actor, row.try_get("seq")?))
    })
    .collect()
}

/// See `Store::append_items`: the whole batch in one transaction, set at a time. Should a
/// statement of the batch fail (which validation up front leaves to the unexpected: a lost
/// connection, a deadlock with a writer locking in another order), nothing of it is kept and
/// each append runs again alone through `append_item`, so the failure stays with the append
/// that causes it. A failed commit is not retried: its outcome is unknown, and items without a
/// client id would be stored twice; every append reports it.
pub(super) async fn append_items(
    pool: &Pool,
    appends: Vec<AppendRequest>,
) -> Vec<StoreResult<Appended>> {
    if appends.is_empty() {
        return Vec::new();
    }
    let every = |e: StoreError| appends.iter().map(|_| Err(e.for_each_caller())).collect();
    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(e) => return every(e.into()),
    };
    match append_batch(&mut client, &appends).await {
        Ok(results) => results,
        Err(BatchFailure::Commit(e)) => every(e),
        Err(BatchFailure::Statement(e)) => {
            tracing::warn!(error = %e, appends = appends.len(),
                "a batch of appends failed; appending them one by one");
            drop(client);
            let mut results = Vec::with_capacity(appends.len());
            for append in appends {
                let AppendRequest {
                    account,
                    conversation,
                    item,
                } = append;
                results.push(append_item(pool, account, conversation, item).await);
            }
            results
        }
    }
}

enum BatchFailure {
    /// Before the commit: nothing of the batch is stored.
    Statement(StoreError),
    /// At the commit: the outcome is unknown.
    Commit(StoreError),
}

impl<E: Into<StoreError>> From<E> for BatchFailure {
    fn from(e: E) -> Self {
        Self::Statement(e.into())
    }
}

/// What one append of a batch turns out to be.
enum Outcome {
    Refused(StoreError),
    /// Its client id was stored before this batch.
    Stored(TimelineItem),
    /// New: the `n`th row inserted.
    New(usize),
    /// Its client id came earlier in this batch, as the `n`th row inserted.
    Repeat(usize),
}

/// A new item about to be inserted, at its conversation's next seq.
struct NewRow {
    id: Uuid,
    account: Uuid,
    conversation: Uuid,
    seq: i64,
    row: ItemRow,
    fact: Option<ItemFact>,
    at: OffsetDateTime,
}

/// (account, conversation).
type ConversationKey = (Uuid, Uuid);

async fn append_batch(
    client: &mut deadpool_postgres::Client,
    appends: &[AppendRequest],
) -> Result<Vec<StoreResult<Appended>>, BatchFailure> {
    let tx = client.transaction().await?;
    // Pipelined: sent together, run one after the other, so the client ids are read after the
    // locks are held (a concurrent writer of the same client id has committed or not started).
    let (mut locked, stored) = tokio::try_join!(
        lock_conversations(&tx, appends),
        stored_client_ids(&tx, appends)
    )?;

    // Seqs, and repeats, in the order given: as if each append ran alone, one after another.
    let mut outcomes = Vec::with_capacity(appends.len());
    let mut rows: Vec<NewRow> = Vec::with_capacity(appends.len());
    // (conversation, client id) → the row it was first given in this batch.
    let mut in_batch: HashMap<(Uuid, Uuid), usize> = HashMap::new();
    for append in appends {
        let key = (append.account.0, append.conversation.0);
        let Some((conversation, channel_kind)) = locked.get_mut(&key) else {
            outcomes.push(Outcome::Refused(not_found("conversation")));
            continue;
        };
        if let Some(client_id) = append.item.client_id {
            let seen = (append.conversation.0, client_id);
            if let Some(item) = stored.get(&seen) {
                outcomes.push(Outcome::Stored(item.clone()));
                continue;
            }
            if let Some(&n) = in_batch.get(&seen) {
                outcomes.push(Outcome::Repeat(n));
                continue;
            }
            in_batch.insert(seen, rows.len());
        }
        conversation.last_seq += 1;
        let (row, fact) = new_item_row(append.item.clone(), *channel_kind);
        outcomes.push(Outcome::New(rows.len()));
        rows.push(NewRow {
            id: TimelineItemId::new().0,
            account: key.0,
            conversation: key.1,
            seq: conversation.last_seq,
            row,
            fact,
            at: now(),
        });
    }

    // Pipelined too: ids and seqs are chosen here, so no statement waits for another's answer.
    let (items, (), ()) = tokio::try_join!(
        insert_rows(&tx, &rows),
        advance_conversations(&tx, &rows),
        insert_report_events(&tx, &rows, &locked),
    )?;
    for (new, item) in rows.iter().zip(&items) {
        let Some((conversation, kind)) = locked.get(&(new.account, new.conversation)) else {
            continue;
        };
        if item.delivery_status == Some(DeliveryStatus::Pending)
            && matches!(kind, ChannelKind::Email | ChannelKind::Messenger)
        {
            super::outbox::enqueue(&tx, conversation, item, *kind, new.at).await?;
        }
    }
    tx.commit()
        .await
        .map_err(|e| BatchFailure::Commit(e.into()))?;

    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Refused(e) => Err(e),
            Outcome::Stored(item) => Ok(Appended {
                item,
                created: false,
            }),
            Outcome::New(n) => Ok(Appended {
                item: items[n].clone(),
                created: true,
            }),
            Outcome::Repeat(n) => Ok(Appended {
                item: items[n].clone(),
                created: false,
            }),
        })
        .collect())
}

/// The batch's conversations (those of the account each names), locked in id order, with
/// their channel's kind. `id = ANY` keeps the plan on the primary key however the planner
/// guesses the size of `unnest`; only rows that pass the account check are locked.
async fn lock_conversations(
    tx: &impl GenericClient,
    appends: &[AppendRequest],
) -> StoreResult<HashMap<ConversationKey, (Conversation, ChannelKind)>> {
    let accounts: Vec<Uuid> = appends.iter().map(|a| a.account.0).collect();
    let conversations: Vec<Uuid> = appends.iter().map(|a| a.conversation.0).collect();
    let found = query(
        tx,
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", (SELECT ch.kind FROM channels ch \
                WHERE ch.account_id = conversations.account_id \
                  AND ch.id = conversations.channel_id) AS channel_kind \
             FROM conversations WHERE id = ANY($2) AND (account_id, id) IN \
               (SELECT a, c FROM unnest($1::uuid[], $2::uuid[]) AS x(a, c)) \
             ORDER BY id FOR UPDATE"
        ),
        &[&accounts, &conversations],
    )
    .await?;
    let mut locked = HashMap::with_capacity(found.len());
    for row in &found {
        let conversation = rows::conversation(row)?;
        let kind: String = row.try_get("channel_kind")?;
        let kind = ChannelKind::parse(&kind).map_err(StoreError::backend)?;
        locked.insert(
            (conversation.account_id.0, conversation.id.0),
            (conversation, kind),
        );
    }
    Ok(locked)
}

/// The items already stored under the batch's client ids, by (conversation, client id). Only
/// consulted for appends whose conversation was found in their account.
async fn stored_client_ids(
    tx: &impl GenericClient,
    appends: &[AppendRequest],
) -> StoreResult<HashMap<(Uuid, Uuid), TimelineItem>> {
    let (conversations, client_ids): (Vec<Uuid>, Vec<Uuid>) = appends
        .iter()
        .filter_map(|a| a.item.client_id.map(|id| (a.conversation.0, id)))
        .unzip();
    if client_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found = query(
        tx,
        concat!(
            "SELECT ",
            item_columns!(),
            " FROM unnest($1::uuid[], $2::uuid[]) AS x(c, k) \
              JOIN timeline_items ON conversation_id = x.c AND client_id = x.k \
              WHERE conversation_id = ANY($1)"
        ),
        &[&conversations, &client_ids],
    )
    .await?;
    let mut stored = HashMap::with_capacity(found.len());
    for row in &found {
        let item = rows::item(row)?;
        if let Some(client_id) = item.client_id {
            stored.insert((item.conversation_id.0, client_id), item);
        }
    }
    Ok(stored)
}

/// Inserts every new row with one statement; the items come back in the order of `rows`.
async fn insert_rows(tx: &impl GenericClient, rows: &[NewRow]) -> StoreResult<Vec<TimelineItem>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut columns = ItemColumns::with_capacity(rows.len());
    for new in rows {
        columns.push(new);
    }
    let ItemColumns {
        ids,
        accounts,
        conversations,
        seqs,
        client_ids,
        kinds,
        author_types,
        author_ids,
        directions,
        bodies,
        mentions,
        data,
        delivery_statuses,
        created_at,
    } = &columns;
    // Mentions travel as comma-separated text: unnest cannot take an array of arrays.
    let inserted = query(
        tx,
        concat!(
            "INSERT INTO timeline_items (id, account_id, conversation_id, seq, client_id, kind, \
             author_type, author_id, direction, body, mentions, data, delivery_status, \
             created_at) \
             SELECT id, account_id, conversation_id, seq, client_id, kind, author_type, \
               author_id, direction, body, string_to_array(mentions, ',')::uuid[], data, \
               delivery_status, created_at \
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::uuid[], \
               $6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[], $11::text[], \
               $12::jsonb[], $13::text[], $14::timestamptz[]) \
               AS x(id, account_id, conversation_id, seq, client_id, kind, author_type, \
                    author_id, direction, body, mentions, data, delivery_status, created_at) \
             RETURNING ",
            item_columns!()
        ),
        &[
            ids,
            accounts,
            conversations,
            seqs,
            client_ids,
            kinds,
            author_types,
            author_ids,
            directions,
            bodies,
            mentions,
            data,
            delivery_statuses,
            created_at,
        ],
    )
    .await?;
    let mut by_id = HashMap::with_capacity(inserted.len());
    for row in &inserted {
        let item = rows::item(row)?;
        by_id.insert(item.id.0, item);
    }
    rows.iter()
        .map(|new| {
            by_id.remove(&new.id).ok_or_else(|| {
                StoreError::backend(std::io::Error::other("an inserted item did not come back"))
            })
        })
        .collect()
}

/// The batch's new rows as one array per column, for `unnest`.
struct ItemColumns {
    ids: Vec<Uuid>,
    accounts: Vec<Uuid>,
    conversations: Vec<Uuid>,
    seqs: Vec<i64>,
    client_ids: Vec<Option<Uuid>>,
    kinds: Vec<&'static str>,
    author_types: Vec<&'static str>,
    author_ids: Vec<Option<Uuid>>,
    directions: Vec<Option<&'static str>>,
    bodies: Vec<Option<String>>,
    mentions: Vec<String>,
    data: Vec<Option<Value>>,
    delivery_statuses: Vec<Option<&'static str>>,
    created_at: Vec<OffsetDateTime>,
}

impl ItemColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            accounts: Vec::with_capacity(n),
            conversations: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            client_ids: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            author_types: Vec::with_capacity(n),
            author_ids: Vec::with_capacity(n),
            directions: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
            mentions: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            delivery_statuses: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, new: &NewRow) {
        let row = &new.row;
        let (author_type, author_id) = actor_columns(row.author);
        self.ids.push(new.id);
        self.accounts.push(new.account);
        self.conversations.push(new.conversation);
        self.seqs.push(new.seq);
        self.client_ids.push(row.client_id);
        self.kinds.push(row.kind.as_str());
        self.author_types.push(author_type);
        self.author_ids.push(author_id);
        self.directions.push(row.direction.map(Direction::as_str));
        self.bodies.push(row.body.clone());
        let mentions: Vec<String> = row.mentions.iter().map(Uuid::to_string).collect();
        self.mentions.push(mentions.join(","));
        self.data.push(row.data.clone());
        self.delivery_statuses
            .push(row.delivery_status.map(DeliveryStatus::as_str));
        self.created_at.push(new.at);
    }
}

/// Each conversation's `last_seq` to its last new item, `updated_at` to that item's time.
async fn advance_conversations(tx: &impl GenericClient, rows: &[NewRow]) -> StoreResult<()> {
    let mut last: HashMap<ConversationKey, (i64, OffsetDateTime)> = HashMap::new();
    for new in rows {
        last.insert((new.account, new.conversation), (new.seq, new.at));
    }
    if last.is_empty() {
        return Ok(());
    }
    let mut accounts = Vec::with_capacity(last.len());
    let mut conversations = Vec::with_capacity(last.len());
    let mut seqs = Vec::with_capacity(last.len());
    let mut at = Vec::with_capacity(last.len());
    for ((account, conversation), (seq, when)) in last {
        accounts.push(account);
        conversations.push(conversation);
        seqs.push(seq);
        at.push(when);
    }
    execute(
        tx,
        "UPDATE conversations SET last_seq = x.seq, updated_at = x.at \
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[]) \
           AS x(a, c, seq, at) \
         WHERE conversations.id = ANY($2) \
           AND conversations.account_id = x.a AND conversations.id = x.c",
        &[&accounts, &conversations, &seqs, &at],
    )
    .await?;
    Ok(())
}

/// The report fact of each new item (`message.received`, `message.sent`, `comment.added`),
/// exactly as `append_item` writes it, in one statement.
async fn insert_report_events(
    tx: &impl GenericClient,
    rows: &[NewRow],
    locked: &HashMap<ConversationKey, (Conversation, ChannelKind)>,
) -> StoreResult<()> {
    let mut accounts = Vec::new();
    let mut kinds = Vec::new();
    let mut inboxes = Vec::new();
    let mut conversations = Vec::new();
    let mut agents = Vec::new();
    let mut data = Vec::new();
    let mut at = Vec::new();
    for new in rows {
        let (Some((kind, mentions)), Some((conversation, _))) =
            (&new.fact, locked.get(&(new.account, new.conversation)))
        else {
            continue;
        };
        let mut fields = json!({"seq": new.seq, "item_id": new.id});
        if let (Some(object), Some(mentions)) = (fields.as_object_mut(), mentions) {
            object.insert("mentions".into(), json!(mentions));
        }
        accounts.push(new.account);
        kinds.push(*kind);
        inboxes.push(conversation.inbox_id.0);
        conversations.push(new.conversation);
        agents.push(actor_agent(new.row.author));
        data.push(fields);
        at.push(new.at);
    }
    if accounts.is_empty() {
        return Ok(());
    }
    execute(
        tx,
        "INSERT INTO events (account_id, kind, inbox_id, conversation_id, agent_id, data, \
           occurred_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], \
           $6::jsonb[], $7::timestamptz[])",
        &[
            &accounts,
            &kinds,
            &inboxes,
            &conversations,
            &agents,
            &data,
            &at,
        ],
    )
    .await?;
    Ok(())
}
