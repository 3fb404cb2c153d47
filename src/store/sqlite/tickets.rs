//! Tickets, created from a conversation.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::columns::{Ts, now};
use super::conversations::get_conversation;
use super::{Fail, Filter, into_page, invalid, not_found, require_ref};
use crate::domain::*;
use crate::store::{Page, PageRequest, StoreError};

/// The title of a ticket made without one from a conversation without a subject whose contact
/// has no name, email or phone either.
const UNTITLED: &str = "Conversation";

const TICKET_COLUMNS: &str = "id, account_id, inbox_id, conversation_id, contact_id, title, \
    stage, priority, owner_id, created_at, updated_at";

fn ticket_row(r: &Row) -> rusqlite::Result<Ticket> {
    Ok(Ticket {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        inbox_id: r.get("inbox_id")?,
        conversation_id: r.get("conversation_id")?,
        contact_id: r.get("contact_id")?,
        title: r.get("title")?,
        stage: r.get("stage")?,
        priority: r.get("priority")?,
        owner_id: r.get("owner_id")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
        updated_at: r.get::<_, Ts>("updated_at")?.0,
    })
}

pub(super) fn create_ticket(
    c: &Connection,
    account: AccountId,
    new: NewTicket,
) -> Result<Ticket, Fail> {
    let conversation = match get_conversation(c, account, new.conversation_id) {
        Ok(conversation) => conversation,
        Err(Fail::Store(StoreError::NotFound { .. })) => {
            return Err(invalid(
                "conversation_id",
                format!(
                    "conversation {} is not in this account",
                    new.conversation_id
                ),
            ));
        }
        Err(other) => return Err(other),
    };
    if let Some(owner) = &new.owner_id {
        require_ref(c, "agents", account, owner, "owner_id", "agent")?;
    }
    let title = match (new.title, conversation.subject) {
        (Some(title), _) => title.into(),
        (None, Some(subject)) if !subject.trim().is_empty() => subject,
        (None, _) => contact_label(c, account, conversation.contact_id)?.map_or_else(
            || UNTITLED.to_owned(),
            |label| format!("Conversation with {label}"),
        ),
    };
    let now = now();
    let ticket = Ticket {
        id: TicketId::new(),
        account_id: account,
        inbox_id: conversation.inbox_id,
        conversation_id: Some(conversation.id),
        contact_id: Some(conversation.contact_id),
        title,
        stage: TicketStage::New,
        priority: new.priority,
        owner_id: new.owner_id,
        created_at: now,
        updated_at: now,
    };
    c.prepare_cached(&format!(
        "INSERT INTO tickets ({TICKET_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        ticket.id,
        account,
        ticket.inbox_id,
        ticket.conversation_id,
        ticket.contact_id,
        ticket.title,
        ticket.stage,
        ticket.priority,
        ticket.owner_id,
        Ts(ticket.created_at),
        Ts(ticket.updated_at),
    ])?;
    Ok(ticket)
}

pub(super) fn get_ticket(c: &Connection, account: AccountId, id: TicketId) -> Result<Ticket, Fail> {
    c.prepare_cached(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row(params![account, id], ticket_row)
    .optional()?
    .ok_or_else(|| not_found("ticket"))
}

pub(super) fn update_ticket(
    c: &Connection,
    account: AccountId,
    id: TicketId,
    patch: TicketPatch,
) -> Result<Ticket, Fail> {
    let mut ticket = get_ticket(c, account, id)?;
    if let Some(title) = patch.title {
        ticket.title = title.into();
    }
    if let Some(stage) = patch.stage {
        ticket.stage = stage;
    }
    if let Some(priority) = patch.priority {
        ticket.priority = priority;
    }
    if let Some(owner) = patch.owner_id {
        if let Some(owner) = &owner {
            require_ref(c, "agents", account, owner, "owner_id", "agent")?;
        }
        ticket.owner_id = owner;
    }
    ticket.updated_at = now();
    c.prepare_cached(
        "UPDATE tickets SET title = ?3, stage = ?4, priority = ?5, owner_id = ?6, updated_at = ?7
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        account,
        id,
        ticket.title,
        ticket.stage,
        ticket.priority,
        ticket.owner_id,
        Ts(ticket.updated_at),
    ])?;
    Ok(ticket)
}

pub(super) fn list_tickets(
    c: &Connection,
    account: AccountId,
    filter: TicketFilter,
    page: PageRequest,
) -> Result<Page<Ticket>, Fail> {
    let mut sql = Filter::new(account);
    sql.any_of("inbox_id", filter.visible_inboxes);
    sql.eq("inbox_id", filter.inbox_id);
    sql.eq("stage", filter.stage);
    sql.eq("priority", filter.priority);
    sql.eq("owner_id", filter.owner_id);
    sql.eq("contact_id", filter.contact_id);
    sql.eq("conversation_id", filter.conversation_id);
    if filter.unowned {
        sql.condition("owner_id IS NULL", Vec::new());
    }
    let (query, sql) = sql.page_query("tickets", TICKET_COLUMNS, page);
    let rows = c
        .prepare(&query)?
        .query_map(sql.params(), ticket_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(into_page(rows, page.clamped_limit(), |ticket| ticket.id.0))
}

/// The contact's name, else email, else phone: what an agent would call them.
fn contact_label(
    c: &Connection,
    account: AccountId,
    contact: ContactId,
) -> Result<Option<String>, Fail> {
    let label = c
        .prepare_cached(
            "SELECT COALESCE(name, email, phone) FROM contacts WHERE account_id = ?1 AND id = ?2",
        )?
        .query_row(params![account, contact], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten();
    Ok(label)
}
