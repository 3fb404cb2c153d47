//! The outbox, email headers of outbound mail, and Messenger events on PostgreSQL.
//!
//! Claims use `FOR UPDATE SKIP LOCKED` and a lease (`claimed_until`): two nodes polling at once
//! never claim the same row, and a row whose node died mid-send is claimed again once its
//! lease has run out.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::conversations::{insert_conversation, insert_new_item, lock_conversation};
use super::{execute, not_found, now, query, query_one, query_opt, rows};
use crate::channels::messenger::{MessengerInbound, MessengerStored, PSID_PROPERTY};
use crate::domain::*;
use crate::outbox::{EmailHeaders, OutboxJob, OutboxOutcome};
use crate::store::{StoreError, StoreResult};

/// Writes the outbox row of a new outbound message, in the caller's transaction.
pub(super) async fn enqueue(
    tx: &impl GenericClient,
    conversation: &Conversation,
    item: &TimelineItem,
    kind: ChannelKind,
    at: OffsetDateTime,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO outbox (account_id, conversation_id, item_id, channel_id, kind, status, \
         attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)",
        &[
            &conversation.account_id.0,
            &conversation.id.0,
            &item.id.0,
            &conversation.channel_id.0,
            &kind.as_str(),
            &at,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn claim_outbox(
    pool: &Pool,
    lease: Duration,
    limit: u32,
) -> StoreResult<Vec<OutboxJob>> {
    let client = pool.get().await?;
    let at = now();
    let until = at + lease;
    let rows = query(
        &client,
        "WITH due AS ( \
           SELECT id FROM outbox \
           WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $1) \
           ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE outbox o SET claimed_until = $3, attempts = o.attempts + 1, updated_at = $1 \
         FROM due, timeline_items t WHERE o.id = due.id AND t.id = o.item_id \
         RETURNING o.id, o.account_id, o.conversation_id, o.channel_id, o.kind, o.item_id, \
                   o.attempts, t.seq, t.body",
        &[&at, &i64::from(limit), &until],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            let attempts: i32 = r.try_get("attempts")?;
            Ok(OutboxJob {
                id: r.try_get("id")?,
                account_id: AccountId(r.try_get("account_id")?),
                conversation_id: ConversationId(r.try_get("conversation_id")?),
                channel_id: ChannelId(r.try_get("channel_id")?),
                kind: ChannelKind::parse(&kind).map_err(StoreError::backend)?,
                item_id: TimelineItemId(r.try_get("item_id")?),
                seq: r.try_get("seq")?,
                body: r.try_get::<_, Option<String>>("body")?.unwrap_or_default(),
                attempts: u32::try_from(attempts).unwrap_or(0),
            })
        })
        .collect()
}

pub(super) async fn finish_outbox(
    pool: &Pool,
    job: &OutboxJob,
    outcome: OutboxOutcome,
) -> StoreResult<Option<TimelineItem>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let at = now();
    let (status, error, remote_id, next_at) = match &outcome {
        OutboxOutcome::Sent { remote_id, .. } => ("sent", None, Some(remote_id.clone()), None),
        OutboxOutcome::Retry { at, error } => ("pending", Some(error.clone()), None, Some(*at)),
        OutboxOutcome::Failed { error } => ("failed", Some(error.clone()), None, None),
    };
    let changed = execute(
        &tx,
        "UPDATE outbox SET status = $2, last_error = $3, remote_id = COALESCE($4, remote_id), \
         next_attempt_at = COALESCE($5, next_attempt_at), claimed_until = NULL, updated_at = $6 \
         WHERE id = $1 AND status = 'pending'",
        &[&job.id, &status, &error, &remote_id, &next_at, &at],
    )
    .await?;
    if changed == 0 {
        return Ok(None);
    }
    // A retry leaves the message pending; the agent sees the outcome once there is one.
    let (item_status, item_error) = match &outcome {
        OutboxOutcome::Retry { .. } => ("pending", None),
        _ => (status, error.clone()),
    };
    let row = query_opt(
        &tx,
        concat!(
            "UPDATE timeline_items SET delivery_status = $3, delivery_error = $4 \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            item_columns!()
        ),
        &[&job.account_id.0, &job.item_id.0, &item_status, &item_error],
    )
    .await?
    .ok_or(not_found("timeline item"))?;
    if let OutboxOutcome::Sent {
        email: Some(email), ..
    } = &outcome
    {
        execute(
            &tx,
            "INSERT INTO email_messages (item_id, account_id, conversation_id, direction, \
             message_id, in_reply_to, refs, subject, from_address, created_at) \
             VALUES ($1, $2, $3, 'out', $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            &[
                &job.item_id.0,
                &job.account_id.0,
                &job.conversation_id.0,
                &email.message_id,
                &email.in_reply_to,
                &json!(email.refs),
                &email.subject,
                &email.from_address,
                &at,
            ],
        )
        .await?;
    }
    let item = rows::item(&row)?;
    tx.commit().await?;
    Ok(Some(item))
}

pub(super) async fn email_thread(
    pool: &Pool,
    account: AccountId,
    conversation: ConversationId,
) -> StoreResult<Vec<EmailHeaders>> {
    let client = pool.get().await?;
    let rows = query(
        &client,
        "SELECT item_id, direction, message_id, in_reply_to, refs, subject, from_address, \
         created_at FROM email_messages WHERE account_id = $1 AND conversation_id = $2 \
         ORDER BY created_at, item_id",
        &[&account.0, &conversation.0],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let direction: String = r.try_get("direction")?;
            let refs: Value = r.try_get("refs")?;
            Ok(EmailHeaders {
                item_id: TimelineItemId(r.try_get("item_id")?),
                direction: Direction::parse(&direction).map_err(StoreError::backend)?,
                message_id: r.try_get("message_id")?,
                in_reply_to: r.try_get("in_reply_to")?,
                refs: serde_json::from_value(refs).unwrap_or_default(),
                subject: r.try_get("subject")?,
                from_address: r.try_get("from_address")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

pub(super) async fn reply_window(
    pool: &Pool,
    account: AccountId,
    conversation: ConversationId,
) -> StoreResult<(ChannelKind, Option<OffsetDateTime>)> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        "SELECT ch.kind, \
           (SELECT max(t.created_at) FROM conversations c2 \
            JOIN timeline_items t ON t.account_id = c2.account_id AND t.conversation_id = c2.id \
            WHERE c2.account_id = c.account_id AND c2.contact_id = c.contact_id \
              AND c2.channel_id = c.channel_id AND t.kind = 'message' AND t.direction = 'in') \
           AS last_in \
         FROM conversations c JOIN channels ch ON ch.account_id = c.account_id \
           AND ch.id = c.channel_id \
         WHERE c.account_id = $1 AND c.id = $2",
        &[&account.0, &conversation.0],
    )
    .await?
    .ok_or(not_found("conversation"))?;
    let kind: String = row.try_get("kind")?;
    Ok((
        ChannelKind::parse(&kind).map_err(StoreError::backend)?,
        row.try_get("last_in")?,
    ))
}

/// The oldest Messenger channel whose setting `key` (`page_id` or `verify_token`) is `value`.
pub(super) async fn find_messenger_channel_by(
    pool: &Pool,
    key: &'static str,
    value: &str,
) -> StoreResult<Option<Channel>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE kind = 'messenger' AND settings->>$1 = $2 \
             ORDER BY created_at LIMIT 1"
        ),
        &[&key, &value],
    )
    .await?
    .map(|r| rows::channel(&r))
    .transpose()
}

pub(super) async fn store_messenger_event(
    pool: &Pool,
    account: AccountId,
    event: MessengerInbound,
) -> StoreResult<Option<MessengerStored>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let at = now();
    let fresh = execute(
        &tx,
        "INSERT INTO messenger_events (account_id, mid, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        &[&account.0, &event.mid, &at],
    )
    .await?;
    if fresh == 0 {
        return Ok(None);
    }
    let inbox: Uuid = query_opt(
        &tx,
        "SELECT inbox_id FROM channels WHERE account_id = $1 AND id = $2 AND kind = 'messenger'",
        &[&account.0, &event.channel_id.0],
    )
    .await?
    .ok_or_else(|| StoreError::Invalid {
        field: "channel_id",
        message: "no such Messenger channel in this account".into(),
    })?
    .try_get("inbox_id")?;
    // Two first messages of one user at once must make one contact and one conversation.
    query(
        &tx,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("messenger:{}:{}", account.0, event.psid)],
    )
    .await?;
    let found = query_opt(
        &tx,
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE account_id = $1 AND properties->>'messenger_psid' = $2 \
             ORDER BY created_at LIMIT 1"
        ),
        &[&account.0, &event.psid],
    )
    .await?;
    let contact = match found {
        Some(row) => rows::contact(&row)?,
        None => {
            let row = query_one(
                &tx,
                concat!(
                    "INSERT INTO contacts (id, account_id, name, properties, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
                    contact_columns!()
                ),
                &[
                    &ContactId::new().0,
                    &account.0,
                    &event.name.as_ref().map(Name::as_str),
                    &json!({ PSID_PROPERTY: event.psid }),
                    &at,
                ],
            )
            .await?;
            rows::contact(&row)?
        }
    };
    let open = query_opt(
        &tx,
        "SELECT id FROM conversations WHERE account_id = $1 AND channel_id = $2 \
         AND contact_id = $3 AND status <> 'closed' ORDER BY created_at DESC LIMIT 1",
        &[&account.0, &event.channel_id.0, &contact.id.0],
    )
    .await?;
    let (conversation_id, created) = match open {
        Some(row) => (ConversationId(row.try_get("id")?), false),
        None => {
            let new = NewConversation {
                channel_id: event.channel_id,
                contact_id: contact.id,
                subject: None,
            };
            let actor = Actor::Contact(contact.id);
            let id = insert_conversation(&tx, account, inbox, "messenger", &new, actor)
                .await?
                .id;
            (id, true)
        }
    };
    let (conversation, kind) = lock_conversation(&tx, account, conversation_id).await?;
    let author = match event.direction {
        Direction::In => Actor::Contact(contact.id),
        Direction::Out => Actor::System,
    };
    let new = NewItem {
        client_id: None,
        author,
        content: NewItemContent::Message {
            direction: event.direction,
            body: event.body,
        },
    };
    let mut item = insert_new_item(&tx, &conversation, kind, new).await?;
    if event.direction == Direction::Out {
        // An echo: the page already sent it, so the outbox row is born sent.
        execute(
            &tx,
            "UPDATE timeline_items SET delivery_status = 'sent' WHERE id = $1",
            &[&item.id.0],
        )
        .await?;
        execute(
            &tx,
            "UPDATE outbox SET status = 'sent', remote_id = $2 WHERE item_id = $1",
            &[&item.id.0, &event.mid],
        )
        .await?;
        item.delivery_status = Some(DeliveryStatus::Sent);
    }
    execute(
        &tx,
        "UPDATE messenger_events SET item_id = $3 WHERE account_id = $1 AND mid = $2",
        &[&account.0, &event.mid, &item.id.0],
    )
    .await?;
    let conversation = query_one(
        &tx,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &conversation_id.0],
    )
    .await?;
    let conversation = rows::conversation(&conversation)?;
    tx.commit().await?;
    Ok(Some(MessengerStored {
        contact,
        conversation,
        conversation_created: created,
        item,
    }))
}
