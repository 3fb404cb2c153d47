//! Form submissions on PostgreSQL: contact, conversation, message and ticket in one transaction.
//!
//! The contact is found by email with `INSERT … ON CONFLICT DO NOTHING` and then a locked
//! read, so two submissions with the same new email at once share one contact.

use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use uuid::Uuid;

use super::contacts::{read_contact, write_contact};
use super::conversations::{insert_conversation, insert_new_item};
use super::{now, query_one, query_opt, rows};
use crate::domain::*;
use crate::store::{StoreError, StoreResult};

pub(super) async fn find_form_channel(pool: &Pool, id: ChannelId) -> StoreResult<Option<Channel>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE id = $1 AND kind = 'form'"
        ),
        &[&id.0],
    )
    .await?
    .as_ref()
    .map(rows::channel)
    .transpose()
}

pub(super) async fn store_form_submission(
    pool: &Pool,
    account: AccountId,
    submission: NewFormSubmission,
) -> StoreResult<FormSubmissionStored> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let inbox_id: Uuid = query_opt(
        &tx,
        "SELECT inbox_id FROM channels WHERE account_id = $1 AND id = $2 AND kind = 'form'",
        &[&account.0, &submission.channel_id.0],
    )
    .await?
    .ok_or_else(|| StoreError::Invalid {
        field: "channel_id",
        message: format!(
            "channel {} is not a form of this account",
            submission.channel_id
        ),
    })?
    .try_get("inbox_id")?;
    let (contact, contact_created) = upsert_contact(&tx, account, &submission).await?;

    let author = Actor::Contact(contact.id);
    let new = NewConversation {
        channel_id: submission.channel_id,
        contact_id: contact.id,
        subject: Some(submission.title.as_str().to_owned()),
    };
    let form = ChannelKind::Form.as_str();
    let mut conversation = insert_conversation(&tx, account, inbox_id, form, &new, author).await?;
    let new_item = NewItem {
        client_id: None,
        author,
        content: NewItemContent::Message {
            direction: Direction::In,
            body: submission.body,
        },
    };
    let item = insert_new_item(&tx, &conversation, ChannelKind::Form, new_item).await?;
    conversation.last_seq = item.seq;
    conversation.updated_at = item.created_at;

    // An owner who is not an agent of the account fails tickets_owner_fkey here, after the
    // contact and conversation were written: the transaction then keeps none of them.
    let row = query_one(
        &tx,
        concat!(
            "INSERT INTO tickets (id, account_id, inbox_id, conversation_id, contact_id, title, \
             stage, priority, owner_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $9, $9) RETURNING ",
            ticket_columns!()
        ),
        &[
            &TicketId::new().0,
            &account.0,
            &inbox_id,
            &conversation.id.0,
            &contact.id.0,
            &submission.title.as_str(),
            &TicketPriority::Medium.as_str(),
            &submission.ticket_owner_id.map(|o| o.0),
            &now(),
        ],
    )
    .await?;
    let ticket = rows::ticket(&row)?;
    tx.commit().await?;
    Ok(FormSubmissionStored {
        contact,
        contact_created,
        conversation,
        item,
        ticket,
    })
}

/// The contact with the submission's email (locked, its gaps filled), else a new one.
async fn upsert_contact(
    tx: &impl GenericClient,
    account: AccountId,
    submission: &NewFormSubmission,
) -> StoreResult<(Contact, bool)> {
    let at = now();
    let inserted = query_opt(
        tx,
        concat!(
            "INSERT INTO contacts (id, account_id, email, name, phone, properties, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (account_id, email) DO NOTHING RETURNING ",
            contact_columns!()
        ),
        &[
            &ContactId::new().0,
            &account.0,
            &submission.email.as_ref().map(EmailAddress::as_str),
            &submission.name.as_ref().map(Name::as_str),
            &submission.phone.as_ref().map(Phone::as_str),
            &Value::Object(submission.properties.clone()),
            &at,
        ],
    )
    .await?;
    if let Some(row) = inserted {
        return Ok((rows::contact(&row)?, true));
    }
    let email = submission
        .email
        .as_ref()
        .map(EmailAddress::as_str)
        .unwrap_or_default();
    let id: Uuid = query_one(
        tx,
        "SELECT id FROM contacts WHERE account_id = $1 AND email = $2",
        &[&account.0, &email],
    )
    .await?
    .try_get("id")?;
    let mut contact = read_contact(tx, account, ContactId(id), true).await?;
    if submission.fill(&mut contact) {
        contact = write_contact(tx, &contact).await?;
    }
    Ok((contact, false))
}
