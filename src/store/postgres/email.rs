//! Email in on PostgreSQL: importing a parsed mail (contact, threading, message, headers,
//! attachments) in one transaction, held mail, and the IMAP lease and position.
//!
//! Two nodes importing the same mail at once (the same Message-ID) both pass the first check;
//! the unique index on `email_messages` then fails the second transaction, which rolls back
//! whole and reports a duplicate.

use deadpool_postgres::{GenericClient, Pool};
use serde_json::json;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::conversations::{insert_conversation, insert_new_item, lock_conversation};
use super::{ListQuery, execute, not_found, now, query, query_one, query_opt, rows};
use crate::domain::*;
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// Most conversations of one contact compared by subject when a reply carries no reference.
const SUBJECT_CANDIDATES: i64 = 50;

async fn contact_by_email(
    client: &impl GenericClient,
    account: AccountId,
    email: &EmailAddress,
) -> StoreResult<Option<Contact>> {
    query_opt(
        client,
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE account_id = $1 AND email = $2"
        ),
        &[&account.0, &email.as_str()],
    )
    .await?
    .as_ref()
    .map(rows::contact)
    .transpose()
}

async fn upsert_contact(
    client: &impl GenericClient,
    account: AccountId,
    mail: &InboundEmail,
) -> StoreResult<Contact> {
    if let Some(found) = contact_by_email(client, account, &mail.from_address).await? {
        return Ok(found);
    }
    execute(
        client,
        "INSERT INTO contacts (id, account_id, email, name, properties, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, '{}'::jsonb, $5, $5) ON CONFLICT DO NOTHING",
        &[
            &ContactId::new().0,
            &account.0,
            &mail.from_address.as_str(),
            &mail.from_name.as_ref().map(Name::as_str),
            &now(),
        ],
    )
    .await?;
    // Another transaction may have created it meanwhile, which made the insert do nothing.
    contact_by_email(client, account, &mail.from_address)
        .await?
        .ok_or(not_found("contact"))
}

async fn conversation_in(
    client: &impl GenericClient,
    account: AccountId,
    id: Uuid,
) -> StoreResult<Option<Conversation>> {
    query_opt(
        client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id],
    )
    .await?
    .as_ref()
    .map(rows::conversation)
    .transpose()
}

async fn thread_by_references(
    client: &impl GenericClient,
    account: AccountId,
    mail: &InboundEmail,
) -> StoreResult<Option<Conversation>> {
    let ids = mail.in_reply_to.iter().chain(mail.references.iter().rev());
    for id in ids {
        let found = query_opt(
            client,
            "SELECT conversation_id FROM email_messages WHERE account_id = $1 AND message_id = $2",
            &[&account.0, &id.as_str()],
        )
        .await?;
        if let Some(row) = found {
            let conversation: Uuid = row.try_get(0)?;
            return conversation_in(client, account, conversation).await;
        }
    }
    Ok(None)
}

async fn thread_by_subject(
    client: &impl GenericClient,
    account: AccountId,
    inbox: Uuid,
    contact: ContactId,
    mail: &InboundEmail,
) -> StoreResult<Option<Conversation>> {
    let Some(subject) = mail.subject.as_deref().map(normalize_subject) else {
        return Ok(None);
    };
    if subject.is_empty() {
        return Ok(None);
    }
    let candidates = query(
        client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND inbox_id = $2 AND contact_id = $3 \
             AND status <> 'closed' ORDER BY created_at DESC LIMIT $4"
        ),
        &[&account.0, &inbox, &contact.0, &SUBJECT_CANDIDATES],
    )
    .await?
    .iter()
    .map(rows::conversation)
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(candidates.into_iter().find(|conversation| {
        conversation
            .subject
            .as_deref()
            .is_some_and(|s| normalize_subject(s) == subject)
    }))
}

pub(super) async fn import_email(
    pool: &Pool,
    account: AccountId,
    mail: InboundEmail,
) -> StoreResult<EmailImport> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let seen = query_opt(
        &tx,
        "SELECT 1 FROM email_messages WHERE account_id = $1 AND message_id = $2",
        &[&account.0, &mail.message_id],
    )
    .await?;
    if seen.is_some() {
        return Ok(EmailImport::Duplicate);
    }
    let channel = query_opt(
        &tx,
        "SELECT inbox_id, kind FROM channels WHERE account_id = $1 AND id = $2",
        &[&account.0, &mail.channel_id.0],
    )
    .await?
    .ok_or_else(|| StoreError::Invalid {
        field: "channel_id",
        message: "no such channel in this account".into(),
    })?;
    let inbox_id: Uuid = channel.try_get("inbox_id")?;
    let kind: String = channel.try_get("kind")?;
    if kind != ChannelKind::Email.as_str() {
        return Err(StoreError::Invalid {
            field: "channel_id",
            message: "mail arrives on email channels only".into(),
        });
    }
    let contact = upsert_contact(&tx, account, &mail).await?;
    let mut threaded = thread_by_references(&tx, account, &mail).await?;
    if threaded.is_none() {
        if let Some(id) = mail.token_conversation {
            threaded = conversation_in(&tx, account, id.0).await?;
        } else {
            threaded = thread_by_subject(&tx, account, inbox_id, contact.id, &mail).await?;
        }
    }
    let (conversation_id, created) = match threaded {
        Some(conversation) => (conversation.id, false),
        None => {
            let new = NewConversation {
                channel_id: mail.channel_id,
                contact_id: contact.id,
                subject: mail.subject.clone(),
            };
            let actor = Actor::Contact(contact.id);
            let conversation =
                insert_conversation(&tx, account, inbox_id, &kind, &new, actor).await?;
            (conversation.id, true)
        }
    };
    let (conversation, channel_kind) = lock_conversation(&tx, account, conversation_id).await?;
    let item = insert_new_item(
        &tx,
        &conversation,
        channel_kind,
        NewItem {
            client_id: None,
            author: Actor::Contact(contact.id),
            content: NewItemContent::Message {
                direction: Direction::In,
                body: mail.visible.clone(),
            },
        },
    )
    .await?;
    let inserted = execute(
        &tx,
        "INSERT INTO email_messages (item_id, account_id, conversation_id, direction, \
         message_id, in_reply_to, refs, subject, from_address, raw, html, text, created_at) \
         VALUES ($1, $2, $3, 'in', $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &item.id.0,
            &account.0,
            &conversation_id.0,
            &mail.message_id,
            &mail.in_reply_to,
            &json!(mail.references),
            &mail.subject,
            &mail.from_address.as_str(),
            &mail.raw,
            &mail.html,
            &mail.text,
            &item.created_at,
        ],
    )
    .await;
    match inserted {
        Ok(_) => {}
        // The same mail imported concurrently by another node: this transaction rolls back.
        Err(StoreError::Conflict { .. }) => return Ok(EmailImport::Duplicate),
        Err(e) => return Err(e),
    }
    for attachment in &mail.attachments {
        execute(
            &tx,
            "INSERT INTO email_attachments (id, item_id, filename, content_type, size, content) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &Uuid::now_v7(),
                &item.id.0,
                &attachment.filename,
                &attachment.content_type,
                &i32::try_from(attachment.content.len()).unwrap_or(i32::MAX),
                &attachment.content,
            ],
        )
        .await?;
    }
    let conversation = conversation_in(&tx, account, conversation_id.0)
        .await?
        .ok_or(not_found("conversation"))?;
    tx.commit().await?;
    Ok(EmailImport::Imported {
        conversation: Box::new(conversation),
        created_conversation: created,
        contact: Box::new(contact),
        item: Box::new(item),
    })
}

const HELD_COLUMNS: &str = "SELECT id, account_id, inbox_id, channel_id, reason, detail, \
    from_address, subject, message_id, octet_length(raw)::bigint AS size, created_at \
    FROM mail_held WHERE";

fn held_row(row: &Row) -> StoreResult<HeldMail> {
    let reason: String = row.try_get("reason")?;
    let size: i64 = row.try_get("size")?;
    Ok(HeldMail {
        id: row.try_get("id")?,
        account_id: AccountId(row.try_get("account_id")?),
        inbox_id: InboxId(row.try_get("inbox_id")?),
        channel_id: row.try_get::<_, Option<Uuid>>("channel_id")?.map(ChannelId),
        reason: HeldReason::parse(&reason).ok_or_else(|| StoreError::Invalid {
            field: "reason",
            message: format!("unknown held mail reason '{reason}' in the store"),
        })?,
        detail: row.try_get("detail")?,
        from_address: row.try_get("from_address")?,
        subject: row.try_get("subject")?,
        message_id: row.try_get("message_id")?,
        size: u64::try_from(size).unwrap_or(0),
        created_at: row.try_get("created_at")?,
    })
}

async fn inbox_exists(
    client: &impl GenericClient,
    account: AccountId,
    inbox: InboxId,
) -> StoreResult<()> {
    query_opt(
        client,
        "SELECT 1 FROM inboxes WHERE account_id = $1 AND id = $2",
        &[&account.0, &inbox.0],
    )
    .await?
    .map(drop)
    .ok_or(not_found("inbox"))
}

pub(super) async fn hold_mail(
    pool: &Pool,
    account: AccountId,
    held: NewHeldMail,
) -> StoreResult<HeldMail> {
    let client = pool.get().await?;
    inbox_exists(&client, account, held.inbox_id).await?;
    let id = Uuid::now_v7();
    execute(
        &client,
        "INSERT INTO mail_held (id, account_id, inbox_id, channel_id, reason, detail, \
         from_address, subject, message_id, raw, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &id,
            &account.0,
            &held.inbox_id.0,
            &held.channel_id.map(|c| c.0),
            &held.reason.as_str(),
            &held.detail,
            &held.from_address,
            &held.subject,
            &held.message_id,
            &held.raw,
            &now(),
        ],
    )
    .await?;
    let row = query_one(
        &client,
        &format!("{HELD_COLUMNS} account_id = $1 AND id = $2"),
        &[&account.0, &id],
    )
    .await?;
    held_row(&row)
}

pub(super) async fn list_held_mail(
    pool: &Pool,
    account: AccountId,
    inbox: InboxId,
    page: PageRequest,
) -> StoreResult<Page<HeldMail>> {
    let client = pool.get().await?;
    inbox_exists(&client, account, inbox).await?;
    let mut list = ListQuery::new(HELD_COLUMNS, account);
    list.and("inbox_id = ?", inbox.0);
    list.page(&client, page, held_row, |h| h.id).await
}

pub(super) async fn get_held_mail(
    pool: &Pool,
    account: AccountId,
    id: Uuid,
) -> StoreResult<(HeldMail, Vec<u8>)> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        "SELECT id, account_id, inbox_id, channel_id, reason, detail, from_address, subject, \
         message_id, octet_length(raw)::bigint AS size, created_at, raw \
         FROM mail_held WHERE account_id = $1 AND id = $2",
        &[&account.0, &id],
    )
    .await?
    .ok_or(not_found("held mail"))?;
    Ok((held_row(&row)?, row.try_get("raw")?))
}

pub(super) async fn find_fallback_inbox(
    pool: &Pool,
    local_part: &str,
) -> StoreResult<Option<Inbox>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        concat!(
            "SELECT ",
            inbox_columns!(),
            " FROM inboxes WHERE fallback_local_part = $1"
        ),
        &[&local_part],
    )
    .await?
    .as_ref()
    .map(rows::inbox)
    .transpose()
}

pub(super) async fn all_email_channels(pool: &Pool) -> StoreResult<Vec<Channel>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE kind = 'email' ORDER BY created_at, id"
        ),
        &[],
    )
    .await?
    .iter()
    .map(rows::channel)
    .collect()
}

pub(super) async fn take_imap_lease(
    pool: &Pool,
    channel: ChannelId,
    holder: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> StoreResult<bool> {
    let client = pool.get().await?;
    let taken = execute(
        &client,
        "INSERT INTO imap_leases (channel_id, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel_id) DO UPDATE SET holder = EXCLUDED.holder, \
            expires_at = EXCLUDED.expires_at \
         WHERE imap_leases.holder = EXCLUDED.holder OR imap_leases.expires_at <= $4",
        &[&channel.0, &holder, &until, &now],
    )
    .await?;
    Ok(taken == 1)
}

pub(super) async fn release_imap_lease(
    pool: &Pool,
    channel: ChannelId,
    holder: Uuid,
) -> StoreResult<()> {
    let client = pool.get().await?;
    execute(
        &client,
        "DELETE FROM imap_leases WHERE channel_id = $1 AND holder = $2",
        &[&channel.0, &holder],
    )
    .await?;
    Ok(())
}

pub(super) async fn imap_position(
    pool: &Pool,
    channel: ChannelId,
) -> StoreResult<Option<ImapPosition>> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        "SELECT uidvalidity, last_uid FROM imap_state WHERE channel_id = $1",
        &[&channel.0],
    )
    .await?;
    row.map(|r| {
        let uidvalidity: i64 = r.try_get(0)?;
        let last_uid: i64 = r.try_get(1)?;
        Ok(ImapPosition {
            uidvalidity: u32::try_from(uidvalidity).unwrap_or(0),
            last_uid: u32::try_from(last_uid).unwrap_or(0),
        })
    })
    .transpose()
}

pub(super) async fn save_imap_position(
    pool: &Pool,
    channel: ChannelId,
    mailbox: &str,
    position: ImapPosition,
) -> StoreResult<()> {
    let client = pool.get().await?;
    execute(
        &client,
        "INSERT INTO imap_state (channel_id, mailbox, uidvalidity, last_uid, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel_id) DO UPDATE SET \
         mailbox = EXCLUDED.mailbox, uidvalidity = EXCLUDED.uidvalidity, \
         last_uid = EXCLUDED.last_uid, updated_at = EXCLUDED.updated_at",
        &[
            &channel.0,
            &mailbox,
            &i64::from(position.uidvalidity),
            &i64::from(position.last_uid),
            &now(),
        ],
    )
    .await?;
    Ok(())
}
