//! Email in on SQLite: importing a parsed mail (contact, threading, message, headers,
//! attachments) in the caller's write transaction, held mail, and the IMAP lease and position.

use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::columns::{Json, SqlUuid, Ts, now};
use super::conversations::{self, CONVERSATION_COLUMNS, conversation_row};
use super::{Fail, Filter, contacts, inboxes, into_page, invalid, not_found};
use crate::domain::*;
use crate::store::{Page, PageRequest};

/// Most conversations of one contact compared by subject when a reply carries no reference.
const SUBJECT_CANDIDATES: i64 = 50;

pub(super) fn import_email(
    c: &Connection,
    account: AccountId,
    mail: InboundEmail,
) -> Result<EmailImport, Fail> {
    let seen: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM email_messages WHERE account_id = ?1 AND message_id = ?2)",
        )?
        .query_row(params![account, mail.message_id], |r| r.get(0))?;
    if seen {
        return Ok(EmailImport::Duplicate);
    }
    let (inbox_id, kind) = conversations::channel_kind(c, account, mail.channel_id)?
        .ok_or_else(|| invalid("channel_id", "no such channel in this account"))?;
    if kind != ChannelKind::Email {
        return Err(invalid("channel_id", "mail arrives on email channels only"));
    }
    let contact = match c
        .prepare_cached(&format!(
            "SELECT {} FROM contacts WHERE account_id = ?1 AND email = ?2",
            contacts::CONTACT_COLUMNS
        ))?
        .query_row(params![account, mail.from_address], contacts::contact_row)
        .optional()?
    {
        Some(found) => found,
        None => contacts::insert_contact(
            c,
            account,
            NewContact {
                email: Some(mail.from_address.clone()),
                name: mail.from_name.clone(),
                phone: None,
                properties: Default::default(),
                owner_id: None,
            },
            None,
        )?,
    };
    let threaded = match thread_by_references(c, account, &mail)? {
        Some(found) => Some(found),
        None => match mail.token_conversation {
            Some(id) => conversations::get_conversation(c, account, id)
                .map(Some)
                .or_else(|e| match e {
                    Fail::Store(crate::store::StoreError::NotFound { .. }) => Ok(None),
                    other => Err(other),
                })?,
            None => thread_by_subject(c, account, inbox_id, contact.id, &mail)?,
        },
    };
    let (conversation_id, created) = match threaded {
        Some(conversation) => (conversation.id, false),
        None => {
            let conversation = conversations::create_conversation(
                c,
                account,
                NewConversation {
                    channel_id: mail.channel_id,
                    contact_id: contact.id,
                    subject: mail.subject.clone(),
                },
                Actor::Contact(contact.id),
            )?;
            (conversation.id, true)
        }
    };
    let appended = conversations::append_item(
        c,
        account,
        conversation_id,
        NewItem {
            client_id: None,
            author: Actor::Contact(contact.id),
            content: NewItemContent::Message {
                direction: Direction::In,
                body: mail.visible.clone(),
            },
        },
    )?;
    let item = appended.item;
    c.prepare_cached(
        "INSERT INTO email_messages (item_id, account_id, conversation_id, direction, message_id,
            in_reply_to, refs, subject, from_address, raw, html, text, created_at)
         VALUES (?1, ?2, ?3, 'in', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        item.id,
        account,
        conversation_id,
        mail.message_id,
        mail.in_reply_to,
        Json(&mail.references),
        mail.subject,
        mail.from_address,
        mail.raw,
        mail.html,
        mail.text,
        Ts(item.created_at),
    ])?;
    for attachment in &mail.attachments {
        c.prepare_cached(
            "INSERT INTO email_attachments (id, item_id, filename, content_type, size, content)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            SqlUuid(Uuid::now_v7()),
            item.id,
            attachment.filename,
            attachment.content_type,
            i64::try_from(attachment.content.len()).unwrap_or(i64::MAX),
            attachment.content,
        ])?;
    }
    let conversation = conversations::get_conversation(c, account, conversation_id)?;
    Ok(EmailImport::Imported {
        conversation: Box::new(conversation),
        created_conversation: created,
        contact: Box::new(contact),
        item: Box::new(item),
    })
}

/// The conversation of the newest referenced message (In-Reply-To first, then References from
/// the newest), in the account.
fn thread_by_references(
    c: &Connection,
    account: AccountId,
    mail: &InboundEmail,
) -> Result<Option<Conversation>, Fail> {
    let ids = mail.in_reply_to.iter().chain(mail.references.iter().rev());
    for id in ids {
        let found: Option<ConversationId> = c
            .prepare_cached(
                "SELECT conversation_id FROM email_messages
                 WHERE account_id = ?1 AND message_id = ?2",
            )?
            .query_row(params![account, id], |r| r.get(0))
            .optional()?;
        if let Some(conversation) = found {
            return Ok(Some(conversations::get_conversation(
                c,
                account,
                conversation,
            )?));
        }
    }
    Ok(None)
}

/// The newest not-closed conversation of `contact` (the sender) in the inbox whose subject
/// matches once reply prefixes are stripped. A stranger is another contact, so never matches.
fn thread_by_subject(
    c: &Connection,
    account: AccountId,
    inbox: InboxId,
    contact: ContactId,
    mail: &InboundEmail,
) -> Result<Option<Conversation>, Fail> {
    let Some(subject) = mail.subject.as_deref().map(normalize_subject) else {
        return Ok(None);
    };
    if subject.is_empty() {
        return Ok(None);
    }
    let candidates = c
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations
             WHERE account_id = ?1 AND inbox_id = ?2 AND contact_id = ?3 AND status <> 'closed'
             ORDER BY created_at DESC LIMIT ?4"
        ))?
        .query_map(
            params![account, inbox, contact, SUBJECT_CANDIDATES],
            conversation_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(candidates.into_iter().find(|conversation| {
        conversation
            .subject
            .as_deref()
            .is_some_and(|s| normalize_subject(s) == subject)
    }))
}

const HELD_COLUMNS: &str = "id, account_id, inbox_id, channel_id, reason, detail, from_address, \
    subject, message_id, length(raw) AS size, created_at";

fn held_row(r: &Row) -> rusqlite::Result<HeldMail> {
    let reason: String = r.get("reason")?;
    let size: i64 = r.get("size")?;
    Ok(HeldMail {
        id: r.get::<_, SqlUuid>("id")?.0,
        account_id: r.get("account_id")?,
        inbox_id: r.get("inbox_id")?,
        channel_id: r.get("channel_id")?,
        reason: HeldReason::parse(&reason).ok_or_else(|| {
            rusqlite::Error::InvalidColumnType(0, "reason".into(), rusqlite::types::Type::Text)
        })?,
        detail: r.get("detail")?,
        from_address: r.get("from_address")?,
        subject: r.get("subject")?,
        message_id: r.get("message_id")?,
        size: u64::try_from(size).unwrap_or(0),
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

pub(super) fn hold_mail(
    c: &Connection,
    account: AccountId,
    held: NewHeldMail,
) -> Result<HeldMail, Fail> {
    inboxes::get_inbox(c, account, held.inbox_id)?;
    let id = Uuid::now_v7();
    c.prepare_cached(
        "INSERT INTO mail_held (id, account_id, inbox_id, channel_id, reason, detail,
            from_address, subject, message_id, raw, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        SqlUuid(id),
        account,
        held.inbox_id,
        held.channel_id,
        held.reason.as_str(),
        held.detail,
        held.from_address,
        held.subject,
        held.message_id,
        held.raw,
        Ts(now()),
    ])?;
    Ok(get_held_mail(c, account, id)?.0)
}

pub(super) fn list_held_mail(
    c: &Connection,
    account: AccountId,
    inbox: InboxId,
    page: PageRequest,
) -> Result<Page<HeldMail>, Fail> {
    inboxes::get_inbox(c, account, inbox)?;
    let mut filter = Filter::new(account);
    filter.eq("inbox_id", Some(inbox));
    let (sql, filter) = filter.page_query("mail_held", HELD_COLUMNS, page);
    let rows = c
        .prepare_cached(&sql)?
        .query_map(filter.params(), held_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(into_page(rows, page.clamped_limit(), |h| h.id))
}

pub(super) fn get_held_mail(
    c: &Connection,
    account: AccountId,
    id: Uuid,
) -> Result<(HeldMail, Vec<u8>), Fail> {
    c.prepare_cached(&format!(
        "SELECT {HELD_COLUMNS}, raw FROM mail_held WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row(params![account, SqlUuid(id)], |r| {
        Ok((held_row(r)?, r.get::<_, Vec<u8>>("raw")?))
    })
    .optional()?
    .ok_or_else(|| not_found("held mail"))
}

pub(super) fn find_fallback_inbox(c: &Connection, local_part: &str) -> Result<Option<Inbox>, Fail> {
    let found: Option<(AccountId, InboxId)> = c
        .prepare_cached("SELECT account_id, id FROM inboxes WHERE fallback_local_part = ?1")?
        .query_row(params![local_part], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    found
        .map(|(account, id)| inboxes::get_inbox(c, account, id))
        .transpose()
}

pub(super) fn all_email_channels(c: &Connection) -> Result<Vec<Channel>, Fail> {
    let ids: Vec<(AccountId, ChannelId)> = c
        .prepare_cached(
            "SELECT account_id, id FROM channels WHERE kind = 'email' ORDER BY created_at, id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .map(|(account, id)| inboxes::get_channel(c, account, id))
        .collect()
}

pub(super) fn take_imap_lease(
    c: &Connection,
    channel: ChannelId,
    holder: Uuid,
    now: time::OffsetDateTime,
    until: time::OffsetDateTime,
) -> Result<bool, Fail> {
    let taken = c
        .prepare_cached(
            "INSERT INTO imap_leases (channel_id, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (channel_id) DO UPDATE SET holder = excluded.holder,
                expires_at = excluded.expires_at
             WHERE imap_leases.holder = excluded.holder OR imap_leases.expires_at <= ?4",
        )?
        .execute(params![channel, SqlUuid(holder), Ts(until), Ts(now)])?;
    Ok(taken == 1)
}

pub(super) fn release_imap_lease(
    c: &Connection,
    channel: ChannelId,
    holder: Uuid,
) -> Result<(), Fail> {
    c.prepare_cached("DELETE FROM imap_leases WHERE channel_id = ?1 AND holder = ?2")?
        .execute(params![channel, SqlUuid(holder)])?;
    Ok(())
}

pub(super) fn imap_position(
    c: &Connection,
    channel: ChannelId,
) -> Result<Option<ImapPosition>, Fail> {
    let found: Option<(i64, i64)> = c
        .prepare_cached("SELECT uidvalidity, last_uid FROM imap_state WHERE channel_id = ?1")?
        .query_row(params![channel], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found.map(|(uidvalidity, last_uid)| ImapPosition {
        uidvalidity: u32::try_from(uidvalidity).unwrap_or(0),
        last_uid: u32::try_from(last_uid).unwrap_or(0),
    }))
}

pub(super) fn save_imap_position(
    c: &Connection,
    channel: ChannelId,
    mailbox: &str,
    position: ImapPosition,
) -> Result<(), Fail> {
    c.prepare_cached(
        "INSERT INTO imap_state (channel_id, mailbox, uidvalidity, last_uid, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (channel_id) DO UPDATE SET mailbox = excluded.mailbox,
            uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
            updated_at = excluded.updated_at",
    )?
    .execute(params![
        channel,
        mailbox,
        i64::from(position.uidvalidity),
        i64::from(position.last_uid),
        Ts(now()),
    ])?;
    Ok(())
}
