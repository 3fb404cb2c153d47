//! What the real-time core needs on PostgreSQL (docs/store.md "Real-time"): visitors, agents'
//! loads, atomic claims for routing, the routing queue, and read marks.
//!
//! A claim locks the conversation row, then the agent's row (`SELECT … FOR UPDATE`), and only
//! then counts the agent's open conversations: two nodes claiming for the same agent queue on
//! the agent's row, and the second counts after the first has committed, so capacity holds
//! across nodes. Conversation before agent is the order `change_conversation` takes them in
//! too (it stamps the assignee's `last_assigned_at`), so the two never deadlock.

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;
use uuid::Uuid;

use super::contacts::{read_contact, write_contact};
use super::conversations::{assign, lock_conversation, read_conversation};
use super::rows::actor_columns;
use super::{execute, not_found, now, query, query_one, query_opt, rows};
use crate::domain::*;
use crate::store::{MAX_PAGE_SIZE, StoreError, StoreResult};

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
