//! Contacts on PostgreSQL: create, patch (properties merged key by key), search, merge.

use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Map, Value};

use super::{ListQuery, execute, like_pattern, not_found, now, query, query_one, query_opt, rows};
use crate::domain::*;
use crate::store::{Page, PageRequest, StoreError, StoreResult};

pub(super) async fn create_contact(
    pool: &Pool,
    account: AccountId,
    new: NewContact,
) -> StoreResult<Contact> {
    let client = pool.get().await?;
    let at = now();
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO contacts (id, account_id, email, name, phone, properties, owner_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
            contact_columns!()
        ),
        &[
            &ContactId::new().0,
            &account.0,
            &new.email.as_ref().map(EmailAddress::as_str),
            &new.name.as_ref().map(Name::as_str),
            &new.phone.as_ref().map(Phone::as_str),
            &Value::Object(new.properties),
            &new.owner_id.map(|o| o.0),
            &at,
        ],
    )
    .await?;
    rows::contact(&row)
}

pub(super) async fn get_contact(
    pool: &Pool,
    account: AccountId,
    id: ContactId,
) -> StoreResult<Contact> {
    let client = pool.get().await?;
    read_contact(&client, account, id, false).await
}

/// The contact, locked for the rest of the transaction when `lock` is set.
pub(super) async fn read_contact(
    client: &impl GenericClient,
    account: AccountId,
    id: ContactId,
    lock: bool,
) -> StoreResult<Contact> {
    let sql = if lock {
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE account_id = $1 AND id = $2 FOR UPDATE"
        )
    } else {
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE account_id = $1 AND id = $2"
        )
    };
    let row = query_opt(client, sql, &[&account.0, &id.0])
        .await?
        .ok_or(not_found("contact"))?;
    rows::contact(&row)
}

/// Writes every field of `contact` (already locked in this transaction) and stamps `updated_at`.
pub(super) async fn write_contact(
    client: &impl GenericClient,
    contact: &Contact,
) -> StoreResult<Contact> {
    let row = query_one(
        client,
        concat!(
            "UPDATE contacts SET email = $3, name = $4, phone = $5, properties = $6, \
             owner_id = $7, updated_at = $8, external_id = $9, email_unverified = $10 \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            contact_columns!()
        ),
        &[
            &contact.account_id.0,
            &contact.id.0,
            &contact.email.as_ref().map(EmailAddress::as_str),
            &contact.name.as_ref().map(Name::as_str),
            &contact.phone.as_ref().map(Phone::as_str),
            &Value::Object(contact.properties.clone()),
            &contact.owner_id.map(|o| o.0),
            &now(),
            &contact.external_id.as_ref().map(ExternalId::as_str),
            &contact.email_unverified,
        ],
    )
    .await?;
    rows::contact(&row)
}

/// Applies a properties patch: each key replaces the stored one, a `null` removes it.
fn merge_properties(properties: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            properties.remove(&key);
        } else {
            properties.insert(key, value);
        }
    }
}

pub(super) async fn update_contact(
    pool: &Pool,
    account: AccountId,
    id: ContactId,
    patch: ContactPatch,
) -> StoreResult<Contact> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Read, change and write under the row lock, so two property patches both land.
    let mut contact = read_contact(&tx, account, id, true).await?;
    if let Some(email) = patch.email {
        contact.email = email;
        contact.email_unverified = false;
    }
    if let Some(name) = patch.name {
        contact.name = name;
    }
    if let Some(phone) = patch.phone {
        contact.phone = phone;
    }
    if let Some(owner_id) = patch.owner_id {
        contact.owner_id = owner_id;
    }
    if let Some(properties) = patch.properties {
        merge_properties(&mut contact.properties, properties);
    }
    let contact = write_contact(&tx, &contact).await?;
    tx.commit().await?;
    Ok(contact)
}

pub(super) async fn search_contacts(
    pool: &Pool,
    account: AccountId,
    search: ContactQuery,
    page: PageRequest,
) -> StoreResult<Page<Contact>> {
    let client = pool.get().await?;
    let mut list = ListQuery::new(
        concat!("SELECT ", contact_columns!(), " FROM contacts WHERE"),
        account,
    );
    list.and_if("email = ?", search.email.map(String::from));
    list.and_if(
        "name ILIKE ? ESCAPE '\\'",
        search.name.as_deref().map(like_pattern),
    );
    list.and_if(
        "phone ILIKE ? ESCAPE '\\'",
        search.phone.as_deref().map(like_pattern),
    );
    list.and_if(
        "(email ILIKE ? ESCAPE '\\' OR name ILIKE ? ESCAPE '\\' OR phone ILIKE ? ESCAPE '\\')",
        search.query.as_deref().map(like_pattern),
    );
    list.page(&client, page, rows::contact, |c| c.id.0).await
}

pub(super) async fn merge_contacts(
    pool: &Pool,
    account: AccountId,
    kept_id: ContactId,
    merged_id: ContactId,
) -> StoreResult<Contact> {
    if kept_id == merged_id {
        return Err(StoreError::Invalid {
            field: "merged_id",
            message: "a contact cannot be merged with itself".into(),
        });
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Both rows locked in id order, so two merges of the same pair cannot deadlock.
    let locked = query(
        &tx,
        concat!(
            "SELECT ",
            contact_columns!(),
            " FROM contacts WHERE account_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"
        ),
        &[&account.0, &vec![kept_id.0, merged_id.0]],
    )
    .await?
    .iter()
    .map(rows::contact)
    .collect::<StoreResult<Vec<Contact>>>()?;
    let mut kept = None;
    let mut merged = None;
    for contact in locked {
        if contact.id == kept_id {
            kept = Some(contact);
        } else {
            merged = Some(contact);
        }
    }
    let (Some(mut kept), Some(merged)) = (kept, merged) else {
        return Err(not_found("contact"));
    };
    for table in [
        "UPDATE conversations SET contact_id = $2 WHERE account_id = $1 AND contact_id = $3",
        "UPDATE tickets SET contact_id = $2 WHERE account_id = $1 AND contact_id = $3",
        "UPDATE visitors SET contact_id = $2 WHERE account_id = $1 AND contact_id = $3",
    ] {
        execute(&tx, table, &[&account.0, &kept_id.0, &merged_id.0]).await?;
    }
    // Deleted before `kept` takes its email, which would otherwise be a duplicate for a moment.
    execute(
        &tx,
        "DELETE FROM contacts WHERE account_id = $1 AND id = $2",
        &[&account.0, &merged_id.0],
    )
    .await?;
    if kept.email.is_none() {
        kept.email = merged.email;
        kept.email_unverified = merged.email_unverified;
    }
    kept.name = kept.name.or(merged.name);
    kept.phone = kept.phone.or(merged.phone);
    kept.owner_id = kept.owner_id.or(merged.owner_id);
    kept.external_id = kept.external_id.or(merged.external_id);
    for (key, value) in merged.properties {
        kept.properties.entry(key).or_insert(value);
    }
    let kept = write_contact(&tx, &kept).await?;
    tx.commit().await?;
    Ok(kept)
}
