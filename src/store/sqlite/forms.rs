//! Form submissions on SQLite: contact, conversation, message and ticket in the caller's one
//! write transaction, built from the same functions the single-record operations use.

use rusqlite::{Connection, OptionalExtension, params};

use super::columns::now;
use super::contacts::{CONTACT_COLUMNS, contact_row, insert_contact, write_contact};
use super::conversations::{append_item, channel_kind, create_conversation};
use super::inboxes::get_channel;
use super::tickets::create_ticket;
use super::{Fail, invalid};
use crate::domain::*;

pub(super) fn find_form_channel(c: &Connection, id: ChannelId) -> Result<Option<Channel>, Fail> {
    let account: Option<AccountId> = c
        .prepare_cached("SELECT account_id FROM channels WHERE id = ?1 AND kind = 'form'")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    match account {
        Some(account) => Ok(Some(get_channel(c, account, id)?)),
        None => Ok(None),
    }
}

pub(super) fn store_form_submission(
    c: &Connection,
    account: AccountId,
    submission: NewFormSubmission,
) -> Result<FormSubmissionStored, Fail> {
    match channel_kind(c, account, submission.channel_id)? {
        Some((_, ChannelKind::Form)) => {}
        _ => {
            return Err(invalid(
                "channel_id",
                format!(
                    "channel {} is not a form of this account",
                    submission.channel_id
                ),
            ));
        }
    }
    let existing = match &submission.email {
        Some(email) => c
            .prepare_cached(&format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = ?1 AND email = ?2"
            ))?
            .query_row(params![account, email], contact_row)
            .optional()?,
        None => None,
    };
    let contact_created = existing.is_none();
    let contact = match existing {
        Some(mut contact) => {
            if submission.fill(&mut contact) {
                contact.updated_at = now();
                write_contact(c, &contact)?;
            }
            contact
        }
        None => insert_contact(
            c,
            account,
            NewContact {
                email: submission.email.clone(),
                name: submission.name.clone(),
                phone: submission.phone.clone(),
                properties: submission.properties.clone(),
                owner_id: None,
            },
            None,
        )?,
    };
    let author = Actor::Contact(contact.id);
    let conversation = create_conversation(
        c,
        account,
        NewConversation {
            channel_id: submission.channel_id,
            contact_id: contact.id,
            subject: Some(submission.title.as_str().to_owned()),
        },
        author,
    )?;
    let item = append_item(
        c,
        account,
        conversation.id,
        NewItem {
            client_id: None,
            author,
            content: NewItemContent::Message {
                direction: Direction::In,
                body: submission.body,
            },
        },
    )?
    .item;
    let ticket = create_ticket(
        c,
        account,
        NewTicket {
            conversation_id: conversation.id,
            title: Some(submission.title),
            priority: TicketPriority::Medium,
            owner_id: submission.ticket_owner_id,
        },
    )?;
    let conversation = super::conversations::get_conversation(c, account, conversation.id)?;
    Ok(FormSubmissionStored {
        contact,
        contact_created,
        conversation,
        item,
        ticket,
    })
}
