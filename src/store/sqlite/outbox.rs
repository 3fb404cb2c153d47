//! The outbox, email headers of outbound mail, and Messenger events on SQLite.
//!
//! One connection serialises every write transaction, so a claim (select due rows, set their
//! lease) is atomic without row locks; the lease still matters when a process dies mid-send.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::columns::{Json, Ts, now};
use super::contacts::{CONTACT_COLUMNS, contact_row, create_contact};
use super::conversations::{
    ITEM_COLUMNS, append_item, create_conversation, get_conversation, item_row,
};
use super::inboxes::get_channel;
use super::{Fail, invalid, not_found};
use crate::channels::messenger::{MessengerInbound, MessengerStored, PSID_PROPERTY};
use crate::domain::*;
use crate::outbox::{EmailHeaders, OutboxJob, OutboxOutcome};

/// Writes the outbox row of a new outbound message, in the caller's transaction.
pub(super) fn enqueue(
    c: &Connection,
    conversation: &Conversation,
    item: &TimelineItem,
    kind: ChannelKind,
) -> Result<(), Fail> {
    c.prepare_cached(
        "INSERT INTO outbox (account_id, conversation_id, item_id, channel_id, kind, status,
            attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6)",
    )?
    .execute(params![
        conversation.account_id,
        conversation.id,
        item.id,
        conversation.channel_id,
        kind,
        Ts(item.created_at),
    ])?;
    Ok(())
}

pub(super) fn claim_outbox(
    c: &Connection,
    lease: Duration,
    limit: u32,
) -> Result<Vec<OutboxJob>, Fail> {
    let at = now();
    let until = at + lease;
    let mut jobs: Vec<OutboxJob> = c
        .prepare_cached(
            "SELECT o.id, o.account_id, o.conversation_id, o.channel_id, o.kind, o.item_id,
                    o.attempts, t.seq, t.body
             FROM outbox o JOIN timeline_items t ON t.id = o.item_id
             WHERE o.status = 'pending' AND o.next_attempt_at <= ?1
               AND (o.claimed_until IS NULL OR o.claimed_until < ?1)
             ORDER BY o.next_attempt_at LIMIT ?2",
        )?
        .query_map(params![Ts(at), limit], |r| {
            Ok(OutboxJob {
                id: r.get("id")?,
                account_id: r.get("account_id")?,
                conversation_id: r.get("conversation_id")?,
                channel_id: r.get("channel_id")?,
                kind: r.get("kind")?,
                item_id: r.get("item_id")?,
                seq: r.get("seq")?,
                body: r.get::<_, Option<String>>("body")?.unwrap_or_default(),
                attempts: r.get("attempts")?,
            })
        })?
        .collect::<Result<_, _>>()?;
    for job in &mut jobs {
        c.prepare_cached(
            "UPDATE outbox SET claimed_until = ?2, attempts = attempts + 1, updated_at = ?3
             WHERE id = ?1",
        )?
        .execute(params![job.id, Ts(until), Ts(at)])?;
        job.attempts += 1;
    }
    Ok(jobs)
}

pub(super) fn finish_outbox(
    c: &Connection,
    job: &OutboxJob,
    outcome: OutboxOutcome,
) -> Result<Option<TimelineItem>, Fail> {
    let at = now();
    let (status, error, remote_id, next_at) = match &outcome {
        OutboxOutcome::Sent { remote_id, .. } => ("sent", None, Some(remote_id.clone()), None),
        OutboxOutcome::Retry { at, error } => ("pending", Some(error.clone()), None, Some(*at)),
        OutboxOutcome::Failed { error } => ("failed", Some(error.clone()), None, None),
    };
    let changed = c
        .prepare_cached(
            "UPDATE outbox SET status = ?2, last_error = ?3, remote_id = COALESCE(?4, remote_id),
                next_attempt_at = COALESCE(?5, next_attempt_at), claimed_until = NULL,
                updated_at = ?6
             WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![
            job.id,
            status,
            error,
            remote_id,
            next_at.map(Ts),
            Ts(at)
        ])?;
    if changed == 0 {
        return Ok(None);
    }
    let (item_status, item_error) = match &outcome {
        OutboxOutcome::Retry { .. } => ("pending", None),
        _ => (status, error.clone()),
    };
    c.prepare_cached(
        "UPDATE timeline_items SET delivery_status = ?3, delivery_error = ?4
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        job.account_id,
        job.item_id,
        item_status,
        item_error
    ])?;
    if let OutboxOutcome::Sent {
        email: Some(email), ..
    } = &outcome
    {
        c.prepare_cached(
            "INSERT OR IGNORE INTO email_messages (item_id, account_id, conversation_id,
                direction, message_id, in_reply_to, refs, subject, from_address, created_at)
             VALUES (?1, ?2, ?3, 'out', ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            job.item_id,
            job.account_id,
            job.conversation_id,
            email.message_id,
            email.in_reply_to,
            Json(&email.refs),
            email.subject,
            email.from_address,
            Ts(at),
        ])?;
    }
    let item = c
        .prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM timeline_items WHERE account_id = ?1 AND id = ?2"
        ))?
        .query_row(params![job.account_id, job.item_id], item_row)
        .optional()?
        .ok_or_else(|| not_found("timeline item"))?;
    Ok(Some(item))
}

pub(super) fn email_thread(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
) -> Result<Vec<EmailHeaders>, Fail> {
    let rows = c
        .prepare_cached(
            "SELECT item_id, direction, message_id, in_reply_to, refs, subject, from_address,
                created_at
             FROM email_messages WHERE account_id = ?1 AND conversation_id = ?2
             ORDER BY created_at, item_id",
        )?
        .query_map(params![account, conversation], |r| {
            Ok(EmailHeaders {
                item_id: r.get("item_id")?,
                direction: r.get("direction")?,
                message_id: r.get("message_id")?,
                in_reply_to: r.get("in_reply_to")?,
                refs: r
                    .get::<_, Option<Json<Vec<String>>>>("refs")?
                    .map(|j| j.0)
                    .unwrap_or_default(),
                subject: r.get("subject")?,
                from_address: r.get("from_address")?,
                created_at: r.get::<_, Ts>("created_at")?.0,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn reply_window(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
) -> Result<(ChannelKind, Option<OffsetDateTime>), Fail> {
    let found = c
        .prepare_cached(
            "SELECT ch.kind,
               (SELECT max(t.created_at) FROM conversations c2
                JOIN timeline_items t ON t.account_id = c2.account_id
                  AND t.conversation_id = c2.id
                WHERE c2.account_id = c.account_id AND c2.contact_id = c.contact_id
                  AND c2.channel_id = c.channel_id AND t.kind = 'message'
                  AND t.direction = 'in') AS last_in
             FROM conversations c JOIN channels ch ON ch.account_id = c.account_id
               AND ch.id = c.channel_id
             WHERE c.account_id = ?1 AND c.id = ?2",
        )?
        .query_row(params![account, conversation], |r| {
            Ok((
                r.get::<_, ChannelKind>(0)?,
                r.get::<_, Option<Ts>>(1)?.map(|t| t.0),
            ))
        })
        .optional()?;
    found.ok_or_else(|| not_found("conversation"))
}

/// The oldest Messenger channel whose setting `key` (`page_id` or `verify_token`) is `value`.
pub(super) fn find_messenger_channel_by(
    c: &Connection,
    key: &'static str,
    value: &str,
) -> Result<Option<Channel>, Fail> {
    let found: Option<(AccountId, ChannelId)> = c
        .prepare_cached(
            "SELECT account_id, id FROM channels
             WHERE kind = 'messenger' AND json_extract(settings, '$.' || ?1) = ?2
             ORDER BY created_at LIMIT 1",
        )?
        .query_row(params![key, value], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match found {
        Some((account, id)) => Ok(Some(get_channel(c, account, id)?)),
        None => Ok(None),
    }
}

pub(super) fn store_messenger_event(
    c: &Connection,
    account: AccountId,
    event: MessengerInbound,
) -> Result<Option<MessengerStored>, Fail> {
    let at = now();
    let fresh = c
        .prepare_cached(
            "INSERT OR IGNORE INTO messenger_events (account_id, mid, created_at)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![account, event.mid, Ts(at)])?;
    if fresh == 0 {
        return Ok(None);
    }
    let channel = get_channel(c, account, event.channel_id)
        .ok()
        .filter(|ch| ch.kind == ChannelKind::Messenger)
        .ok_or_else(|| invalid("channel_id", "no such Messenger channel in this account"))?;
    let found = c
        .prepare_cached(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts
             WHERE account_id = ?1 AND json_extract(properties, '$.{PSID_PROPERTY}') = ?2
             ORDER BY created_at LIMIT 1"
        ))?
        .query_row(params![account, event.psid], contact_row)
        .optional()?;
    let contact = match found {
        Some(contact) => contact,
        None => {
            let mut properties = Map::new();
            properties.insert(PSID_PROPERTY.into(), Value::String(event.psid.clone()));
            create_contact(
                c,
                account,
                NewContact {
                    email: None,
                    name: event.name.clone(),
                    phone: None,
                    properties,
                    owner_id: None,
                },
            )?
        }
    };
    let open: Option<ConversationId> = c
        .prepare_cached(
            "SELECT id FROM conversations WHERE account_id = ?1 AND channel_id = ?2
               AND contact_id = ?3 AND status <> 'closed'
             ORDER BY created_at DESC LIMIT 1",
        )?
        .query_row(params![account, channel.id, contact.id], |r| r.get(0))
        .optional()?;
    let (conversation_id, created) = match open {
        Some(id) => (id, false),
        None => {
            let conversation = create_conversation(
                c,
                account,
                NewConversation {
                    channel_id: channel.id,
                    contact_id: contact.id,
                    subject: None,
                },
                Actor::System,
            )?;
            (conversation.id, true)
        }
    };
    let author = match event.direction {
        Direction::In => Actor::Contact(contact.id),
        Direction::Out => Actor::System,
    };
    let mut item = append_item(
        c,
        account,
        conversation_id,
        NewItem {
            client_id: None,
            author,
            content: NewItemContent::Message {
                direction: event.direction,
                body: event.body,
            },
        },
    )?
    .item;
    if event.direction == Direction::Out {
        // An echo: the page already sent it, so the outbox row is born sent.
        c.prepare_cached("UPDATE timeline_items SET delivery_status = 'sent' WHERE id = ?1")?
            .execute(params![item.id])?;
        c.prepare_cached("UPDATE outbox SET status = 'sent', remote_id = ?2 WHERE item_id = ?1")?
            .execute(params![item.id, event.mid])?;
        item.delivery_status = Some(DeliveryStatus::Sent);
    }
    c.prepare_cached(
        "UPDATE messenger_events SET item_id = ?3 WHERE account_id = ?1 AND mid = ?2",
    )?
    .execute(params![account, event.mid, item.id])?;
    let conversation = get_conversation(c, account, conversation_id)?;
    Ok(Some(MessengerStored {
        contact,
        conversation,
        conversation_created: created,
        item,
    }))
}
