//! What the real-time core needs (docs/store.md "Real-time"): visitors, agents' loads, atomic
//! claims for routing, the routing queue, read marks, and appends in batches.
//!
//! A claim is atomic because it runs in the caller's `BEGIN IMMEDIATE` transaction: it holds the
//! file's write lock from its first read, so no other writer (in this process or another) can
//! assign to the agent between the count and the assignment.
//!
//! A batch of appends is one such transaction with a savepoint around each append: an append
//! that fails is rolled back to its savepoint alone, and the rest commit together (one sync of
//! the WAL for the lot).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::columns::{SqlUuid, Ts, actor_columns, actor_from, now};
use super::contacts::{
    CONTACT_COLUMNS, contact_row, create_contact, get_contact, insert_contact, write_contact,
};
use super::conversations::{
    CONVERSATION_COLUMNS, append_item, assign, channel_kind, conversation_row, get_conversation,
};
use super::{Fail, exists, invalid, not_found};
use crate::domain::*;
use crate::store::{AppendRequest, MAX_PAGE_SIZE, StoreError, StoreResult};

const VISITOR_COLUMNS: &str = "id, account_id, channel_id, contact_id, created_at";

fn visitor_row(r: &Row) -> rusqlite::Result<Visitor> {
    Ok(Visitor {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        channel_id: r.get("channel_id")?,
        contact_id: r.get("contact_id")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

pub(super) fn create_visitor(
    c: &Connection,
    account: AccountId,
    channel: ChannelId,
    token_hash: String,
) -> Result<Visitor, Fail> {
    require_chat_channel(c, account, channel)?;
    let contact = create_contact(c, account, NewContact::default())?;
    insert_visitor(c, account, channel, contact.id, token_hash)
}

/// A visitor holding the contact of a verified identity (see `Store::create_identified_visitor`).
pub(super) fn create_identified_visitor(
    c: &Connection,
    account: AccountId,
    channel: ChannelId,
    token_hash: String,
    identity: VisitorIdentity,
) -> Result<(Visitor, Contact), Fail> {
    require_chat_channel(c, account, channel)?;
    let contact = match identity {
        VisitorIdentity::User { external_id, email } => {
            // The email was not signed: it may only land on this user's contact, and only where
            // no other contact already holds it.
            let email = match email {
                Some(e) if contact_by(c, account, "email", e.as_str())?.is_none() => Some(e),
                _ => None,
            };
            match contact_by(c, account, "external_id", external_id.as_str())? {
                Some(mut found) => {
                    if found.email.is_none() && email.is_some() {
                        found.email = email;
                        found.email_unverified = true;
                        found.updated_at = now();
                        write_contact(c, &found)?;
                    }
                    found
                }
                None => {
                    let unverified = email.is_some();
                    let new = NewContact {
                        email,
                        ..NewContact::default()
                    };
                    let mut made = insert_contact(c, account, new, Some(external_id))?;
                    if unverified {
                        made.email_unverified = true;
                        write_contact(c, &made)?;
                    }
                    made
                }
            }
        }
        VisitorIdentity::Email(email) => match contact_by(c, account, "email", email.as_str())? {
            Some(found) if !found.email_unverified => found,
            found => {
                if let Some(mut claimed) = found {
                    // Typed by some visitor, unchecked: the signed owner takes the address.
                    claimed.email = None;
                    claimed.email_unverified = false;
                    claimed
                        .properties
                        .insert(GIVEN_EMAIL_PROPERTY.into(), email.as_str().into());
                    claimed.updated_at = now();
                    write_contact(c, &claimed)?;
                }
                let new = NewContact {
                    email: Some(email),
                    ..NewContact::default()
                };
                insert_contact(c, account, new, None)?
            }
        },
    };
    let visitor = insert_visitor(c, account, channel, contact.id, token_hash)?;
    Ok((visitor, contact))
}

/// See `Store::set_visitor_email`.
pub(super) fn set_visitor_email(
    c: &Connection,
    account: AccountId,
    visitor: VisitorId,
    email: EmailAddress,
) -> Result<Contact, Fail> {
    let visitor = c
        .prepare_cached(&format!(
            "SELECT {VISITOR_COLUMNS} FROM visitors WHERE account_id = ?1 AND id = ?2"
        ))?
        .query_row(params![account, visitor], visitor_row)
        .optional()?
        .ok_or_else(|| not_found("visitor"))?;
    let mut contact = get_contact(c, account, visitor.contact_id)?;
    if contact.email.as_ref() == Some(&email) {
        return Ok(contact);
    }
    if contact.email.is_none() && contact_by(c, account, "email", email.as_str())?.is_none() {
        contact.email = Some(email);
        contact.email_unverified = true;
    } else {
        contact
            .properties
            .insert(GIVEN_EMAIL_PROPERTY.into(), email.as_str().into());
    }
    contact.updated_at = now();
    write_contact(c, &contact)?;
    Ok(contact)
}

/// The account's contact whose `column` (email or external_id) is `value`.
fn contact_by(
    c: &Connection,
    account: AccountId,
    column: &'static str,
    value: &str,
) -> Result<Option<Contact>, Fail> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = ?1 AND {column} = ?2"
    ))?
    .query_row(params![account, value], contact_row)
    .optional()?)
}

fn require_chat_channel(
    c: &Connection,
    account: AccountId,
    channel: ChannelId,
) -> Result<(), Fail> {
    match channel_kind(c, account, channel)? {
        Some((_, ChannelKind::Chat)) => {}
        Some((_, kind)) => {
            return Err(invalid(
                "channel_id",
                format!("channel {channel} is a {kind} channel; visitors come through chat"),
            ));
        }
        None => {
            return Err(invalid(
                "channel_id",
                format!("channel {channel} is not in this account"),
            ));
        }
    }
    Ok(())
}

fn insert_visitor(
    c: &Connection,
    account: AccountId,
    channel: ChannelId,
    contact: ContactId,
    token_hash: String,
) -> Result<Visitor, Fail> {
    let visitor = Visitor {
        id: VisitorId::new(),
        account_id: account,
        channel_id: channel,
        contact_id: contact,
        created_at: now(),
    };
    c.prepare_cached(&format!(
        "INSERT INTO visitors ({VISITOR_COLUMNS}, token_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        visitor.id,
        account,
        visitor.channel_id,
        visitor.contact_id,
        Ts(visitor.created_at),
        token_hash,
    ])?;
    Ok(visitor)
}

pub(super) fn find_visitor(c: &Connection, token_hash: &str) -> Result<Option<Visitor>, Fail> {
    Ok(c.prepare_cached(&format!(
        "SELECT {VISITOR_COLUMNS} FROM visitors WHERE token_hash = ?1"
    ))?
    .query_row([token_hash], visitor_row)
    .optional()?)
}

pub(super) fn open_visitor_conversation(
    c: &Connection,
    account: AccountId,
    visitor: VisitorId,
) -> Result<Option<Conversation>, Fail> {
    let visitor = c
        .prepare_cached(&format!(
            "SELECT {VISITOR_COLUMNS} FROM visitors WHERE account_id = ?1 AND id = ?2"
        ))?
        .query_row(params![account, visitor], visitor_row)
        .optional()?
        .ok_or_else(|| not_found("visitor"))?;
    Ok(c.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations
             WHERE account_id = ?1 AND contact_id = ?2 AND channel_id = ?3 AND status <> 'closed'
             ORDER BY id DESC LIMIT 1"
    ))?
    .query_row(
        params![account, visitor.contact_id, visitor.channel_id],
        conversation_row,
    )
    .optional()?)
}

/// Conversations assigned to the agent that count against its capacity.
fn open_count(c: &Connection, account: AccountId, agent: AgentId) -> Result<u32, Fail> {
    Ok(c.prepare_cached(
        "SELECT count(*) FROM conversations
             WHERE account_id = ?1 AND assignee_id = ?2 AND status IN ('open', 'pending')",
    )?
    .query_row(params![account, agent], |r| r.get(0))?)
}

pub(super) fn agent_loads(
    c: &Connection,
    account: AccountId,
    mut agents: Vec<AgentId>,
) -> Result<Vec<AgentLoad>, Fail> {
    agents.sort();
    agents.dedup();
    let mut loads = Vec::with_capacity(agents.len());
    for agent in agents {
        let last_assigned_at = c
            .prepare_cached(
                "SELECT last_assigned_at FROM agents WHERE account_id = ?1 AND id = ?2",
            )?
            .query_row(params![account, agent], |r| r.get::<_, Option<Ts>>(0))
            .optional()?;
        // Not in the account: left out, like a filter.
        let Some(last_assigned_at) = last_assigned_at else {
            continue;
        };
        loads.push(AgentLoad {
            agent_id: agent,
            open: open_count(c, account, agent)?,
            last_assigned_at: last_assigned_at.map(|t| t.0),
        });
    }
    Ok(loads)
}

pub(super) fn claim_conversation(
    c: &Connection,
    account: AccountId,
    id: ConversationId,
    agent: AgentId,
    capacity: Option<u32>,
    actor: Actor,
) -> Result<Option<(Conversation, TimelineItem)>, Fail> {
    let mut conversation = get_conversation(c, account, id)?;
    if !exists(c, "agents", account, &agent)? {
        return Err(invalid(
            "agent_id",
            format!("agent {agent} is not in this account"),
        ));
    }
    if conversation.status == ConversationStatus::Closed || conversation.assignee_id.is_some() {
        return Ok(None);
    }
    if let Some(capacity) = capacity
        && open_count(c, account, agent)? >= capacity
    {
        return Ok(None);
    }
    let team = conversation.team_id;
    let item = assign(c, &mut conversation, Some(agent), team, actor)?;
    Ok(Some((conversation, item)))
}

pub(super) fn waiting_conversations(
    c: &Connection,
    account: AccountId,
    inbox: InboxId,
    limit: u32,
) -> Result<Vec<Conversation>, Fail> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations
             WHERE account_id = ?1 AND inbox_id = ?2 AND status = 'open' AND assignee_id IS NULL
             ORDER BY id LIMIT ?3"
        ))?
        .query_map(
            params![account, inbox, limit.clamp(1, MAX_PAGE_SIZE)],
            conversation_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// An actor as the two key columns of `read_marks`: bot and system take the nil UUID.
fn reader_columns(reader: Actor) -> (&'static str, SqlUuid) {
    let (kind, id) = actor_columns(reader);
    (kind, id.unwrap_or(SqlUuid(uuid::Uuid::nil())))
}

pub(super) fn mark_read(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
    reader: Actor,
    seq: i64,
) -> Result<i64, Fail> {
    let last_seq = get_conversation(c, account, conversation)?.last_seq;
    let seq = seq.clamp(0, last_seq);
    let (kind, id) = reader_columns(reader);
    // `max` keeps the mark from going back when receipts arrive out of order.
    Ok(c.prepare_cached(
        "INSERT INTO read_marks (account_id, conversation_id, reader_type, reader_id, seq,
                updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (conversation_id, reader_type, reader_id) DO UPDATE
             SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at
             RETURNING seq",
    )?
    .query_row(
        params![account, conversation, kind, id, seq, Ts(now())],
        |r| r.get(0),
    )?)
}

pub(super) fn read_marks(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
) -> Result<Vec<(Actor, i64)>, Fail> {
    get_conversation(c, account, conversation)?;
    let marks = c
        .prepare_cached(
            "SELECT reader_type, reader_id, seq FROM read_marks
             WHERE account_id = ?1 AND conversation_id = ?2
             ORDER BY reader_type, reader_id",
        )?
        .query_map(params![account, conversation], |r| {
            let kind: String = r.get(0)?;
            let id: SqlUuid = r.get(1)?;
            let id = (!id.0.is_nil()).then_some(id);
            Ok((actor_from(&kind, id)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(marks)
}

/// See `Store::append_items`: each append as `append_item` does it, in the caller's write
/// transaction, inside its own savepoint.
pub(super) fn append_items(
    c: &Connection,
    appends: Vec<AppendRequest>,
) -> Result<Vec<StoreResult<Appended>>, Fail> {
    let mut results = Vec::with_capacity(appends.len());
    for append in appends {
        c.execute_batch("SAVEPOINT append_item")?;
        match append_item(c, append.account, append.conversation, append.item) {
            Ok(appended) => {
                c.execute_batch("RELEASE append_item")?;
                results.push(Ok(appended));
            }
            Err(fail) => {
                c.execute_batch("ROLLBACK TO append_item; RELEASE append_item")?;
                results.push(Err(StoreError::from(fail)));
            }
        }
    }
    Ok(results)
}
