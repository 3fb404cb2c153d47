//! Contacts: create, patch (properties merged key by key), search, merge.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::columns::{Json, Ts, now};
use super::{Fail, Filter, into_page, invalid, not_found, require_ref};
use crate::domain::*;
use crate::store::{Page, PageRequest};

pub(super) const CONTACT_COLUMNS: &str = "id, account_id, email, name, phone, properties, \
     owner_id, external_id, email_unverified, created_at, updated_at";

pub(super) fn contact_row(r: &Row) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        phone: r.get("phone")?,
        properties: r.get::<_, Json<_>>("properties")?.0,
        owner_id: r.get("owner_id")?,
        external_id: r.get("external_id")?,
        email_unverified: r.get("email_unverified")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
        updated_at: r.get::<_, Ts>("updated_at")?.0,
    })
}

/// The name as search compares it. Rust's lower-casing covers all of Unicode, where SQLite's
/// `lower()` and `LIKE` only fold ASCII.
fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Applies a properties patch: each key replaces the stored one, a `null` removes it.
fn merge_properties(stored: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            stored.remove(&key);
        } else {
            stored.insert(key, value);
        }
    }
}

pub(super) fn write_contact(c: &Connection, contact: &Contact) -> Result<(), Fail> {
    c.prepare_cached(
        "UPDATE contacts SET email = ?3, name = ?4, name_folded = ?5, phone = ?6,
            properties = ?7, owner_id = ?8, updated_at = ?9, external_id = ?10,
            email_unverified = ?11
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        contact.account_id,
        contact.id,
        contact.email,
        contact.name,
        contact.name.as_ref().map(|n| fold(n.as_str())),
        contact.phone,
        Json(&contact.properties),
        contact.owner_id,
        Ts(contact.updated_at),
        contact.external_id,
        contact.email_unverified,
    ])?;
    Ok(())
}

pub(super) fn create_contact(
    c: &Connection,
    account: AccountId,
    new: NewContact,
) -> Result<Contact, Fail> {
    insert_contact(c, account, new, None)
}

/// Creates a contact, with the host site's user id when it comes from a verified identity.
pub(super) fn insert_contact(
    c: &Connection,
    account: AccountId,
    new: NewContact,
    external_id: Option<ExternalId>,
) -> Result<Contact, Fail> {
    if let Some(owner) = &new.owner_id {
        require_ref(c, "agents", account, owner, "owner_id", "agent")?;
    }
    let now = now();
    let contact = Contact {
        id: ContactId::new(),
        account_id: account,
        email: new.email,
        name: new.name,
        phone: new.phone,
        properties: new.properties,
        owner_id: new.owner_id,
        external_id,
        email_unverified: false,
        created_at: now,
        updated_at: now,
    };
    c.prepare_cached(
        "INSERT INTO contacts (id, account_id, email, name, name_folded, phone, properties,
            owner_id, created_at, updated_at, external_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        contact.id,
        account,
        contact.email,
        contact.name,
        contact.name.as_ref().map(|n| fold(n.as_str())),
        contact.phone,
        Json(&contact.properties),
        contact.owner_id,
        Ts(contact.created_at),
        Ts(contact.updated_at),
        contact.external_id,
    ])?;
    Ok(contact)
}

pub(super) fn get_contact(
    c: &Connection,
    account: AccountId,
    id: ContactId,
) -> Result<Contact, Fail> {
    c.prepare_cached(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row(params![account, id], contact_row)
    .optional()?
    .ok_or_else(|| not_found("contact"))
}

pub(super) fn update_contact(
    c: &Connection,
    account: AccountId,
    id: ContactId,
    patch: ContactPatch,
) -> Result<Contact, Fail> {
    let mut contact = get_contact(c, account, id)?;
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
    if let Some(properties) = patch.properties {
        merge_properties(&mut contact.properties, properties);
    }
    if let Some(owner) = patch.owner_id {
        if let Some(owner) = &owner {
            require_ref(c, "agents", account, owner, "owner_id", "agent")?;
        }
        contact.owner_id = owner;
    }
    contact.updated_at = now();
    write_contact(c, &contact)?;
    Ok(contact)
}

pub(super) fn search_contacts(
    c: &Connection,
    account: AccountId,
    query: ContactQuery,
    page: PageRequest,
) -> Result<Page<Contact>, Fail> {
    // `instr` on folded text matches substrings literally: `%` and `_` in input are plain
    // characters, as docs/store.md asks of LIKE wildcards.
    let mut filter = Filter::new(account);
    filter.eq("email", query.email);
    if let Some(name) = query.name {
        filter.condition("instr(name_folded, ?) > 0", vec![Box::new(fold(&name))]);
    }
    if let Some(phone) = query.phone {
        filter.condition("instr(lower(phone), ?) > 0", vec![Box::new(fold(&phone))]);
    }
    if let Some(text) = query.query {
        let needle = fold(&text);
        filter.condition(
            "(instr(email, ?) > 0 OR instr(name_folded, ?) > 0 OR instr(lower(phone), ?) > 0)",
            vec![
                Box::new(needle.clone()),
                Box::new(needle.clone()),
                Box::new(needle),
            ],
        );
    }
    let (sql, filter) = filter.page_query("contacts", CONTACT_COLUMNS, page);
    let rows = c
        .prepare(&sql)?
        .query_map(filter.params(), contact_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(into_page(rows, page.clamped_limit(), |contact| {
        contact.id.0
    }))
}

pub(super) fn merge_contacts(
    c: &Connection,
    account: AccountId,
    kept: ContactId,
    merged: ContactId,
) -> Result<Contact, Fail> {
    if kept == merged {
        return Err(invalid(
            "merged_id",
            "a contact cannot be merged with itself",
        ));
    }
    let mut contact = get_contact(c, account, kept)?;
    let other = get_contact(c, account, merged)?;
    for table in ["conversations", "tickets", "visitors"] {
        c.prepare_cached(&format!(
            "UPDATE {table} SET contact_id = ?3 WHERE account_id = ?1 AND contact_id = ?2"
        ))?
        .execute(params![account, merged, kept])?;
    }
    // Deleted before `kept` takes its email, so the unique email rule never sees both.
    c.prepare_cached("DELETE FROM contacts WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account, merged])?;
    if contact.email.is_none() {
        contact.email = other.email;
        contact.email_unverified = other.email_unverified;
    }
    if contact.name.is_none() {
        contact.name = other.name;
    }
    if contact.phone.is_none() {
        contact.phone = other.phone;
    }
    if contact.owner_id.is_none() {
        contact.owner_id = other.owner_id;
    }
    if contact.external_id.is_none() {
        contact.external_id = other.external_id;
    }
    for (key, value) in other.properties {
        contact.properties.entry(key).or_insert(value);
    }
    contact.updated_at = now();
    write_contact(c, &contact)?;
    Ok(contact)
}
