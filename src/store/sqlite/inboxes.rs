//! Inboxes with their members, channels and chatflows.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::columns::{Json, Ts, now};
use super::{Fail, checked_members, exists, invalid, not_found, require_ref};
use crate::domain::*;
use crate::store::StoreError;

/// `inbox-` and 12 random lower-case hex digits: the inbox's address on Parley's own SMTP
/// listener, not guessable from the inbox's name or id.
fn fallback_local_part() -> Result<String, Fail> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness for an inbox address: {e}")))?;
    Ok(format!("inbox-{}", hex::encode(bytes)))
}

const INBOX_COLUMNS: &str = "id, account_id, name, routing, notification_defaults, \
    email_filters, fallback_local_part, created_at";

fn inbox_row(r: &Row) -> rusqlite::Result<Inbox> {
    Ok(Inbox {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        name: r.get("name")?,
        routing: r.get::<_, Json<RoutingSettings>>("routing")?.0,
        notification_defaults: r
            .get::<_, Json<NotificationPrefs>>("notification_defaults")?
            .0,
        email_filters: r.get::<_, Json<EmailFilters>>("email_filters")?.0,
        fallback_local_part: r.get("fallback_local_part")?,
        member_ids: Vec::new(),
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

fn inbox_members(c: &Connection, inbox: InboxId) -> Result<Vec<AgentId>, Fail> {
    let members = c
        .prepare_cached("SELECT agent_id FROM inbox_members WHERE inbox_id = ?1 ORDER BY agent_id")?
        .query_map([inbox], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(members)
}

fn replace_inbox_members(
    c: &Connection,
    account: AccountId,
    inbox: InboxId,
    members: &[AgentId],
) -> Result<(), Fail> {
    c.prepare_cached("DELETE FROM inbox_members WHERE inbox_id = ?1")?
        .execute([inbox])?;
    let mut insert = c.prepare_cached(
        "INSERT INTO inbox_members (account_id, inbox_id, agent_id) VALUES (?1, ?2, ?3)",
    )?;
    for agent in members {
        insert.execute(params![account, inbox, agent])?;
    }
    Ok(())
}

pub(super) fn create_inbox(
    c: &Connection,
    account: AccountId,
    new: NewInbox,
) -> Result<Inbox, Fail> {
    let member_ids = checked_members(c, account, new.member_ids)?;
    let inbox = Inbox {
        id: InboxId::new(),
        account_id: account,
        name: new.name,
        routing: new.routing,
        notification_defaults: new.notification_defaults,
        email_filters: new.email_filters,
        fallback_local_part: fallback_local_part()?,
        member_ids,
        created_at: now(),
    };
    c.prepare_cached(&format!(
        "INSERT INTO inboxes ({INBOX_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?
    .execute(params![
        inbox.id,
        account,
        inbox.name,
        Json(&inbox.routing),
        Json(inbox.notification_defaults),
        Json(&inbox.email_filters),
        inbox.fallback_local_part,
        Ts(inbox.created_at),
    ])?;
    replace_inbox_members(c, account, inbox.id, &inbox.member_ids)?;
    Ok(inbox)
}

pub(super) fn get_inbox(c: &Connection, account: AccountId, id: InboxId) -> Result<Inbox, Fail> {
    let mut inbox = c
        .prepare_cached(&format!(
            "SELECT {INBOX_COLUMNS} FROM inboxes WHERE account_id = ?1 AND id = ?2"
        ))?
        .query_row(params![account, id], inbox_row)
        .optional()?
        .ok_or_else(|| not_found("inbox"))?;
    inbox.member_ids = inbox_members(c, id)?;
    Ok(inbox)
}

pub(super) fn list_inboxes(
    c: &Connection,
    account: AccountId,
    member: Option<AgentId>,
) -> Result<Vec<Inbox>, Fail> {
    let mut inboxes: Vec<Inbox> = c
        .prepare_cached(&format!(
            "SELECT {INBOX_COLUMNS} FROM inboxes
             WHERE account_id = ?1
               AND (?2 IS NULL OR id IN (SELECT inbox_id FROM inbox_members
                                         WHERE account_id = ?1 AND agent_id = ?2))
             ORDER BY id"
        ))?
        .query_map(params![account, member], inbox_row)?
        .collect::<Result<_, _>>()?;
    let mut members: HashMap<InboxId, Vec<AgentId>> = HashMap::new();
    let mut stmt = c.prepare_cached(
        "SELECT inbox_id, agent_id FROM inbox_members WHERE account_id = ?1
         ORDER BY inbox_id, agent_id",
    )?;
    let rows = stmt.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for row in rows {
        let (inbox, agent): (InboxId, AgentId) = row?;
        members.entry(inbox).or_default().push(agent);
    }
    for inbox in &mut inboxes {
        inbox.member_ids = members.remove(&inbox.id).unwrap_or_default();
    }
    Ok(inboxes)
}

pub(super) fn update_inbox(
    c: &Connection,
    account: AccountId,
    id: InboxId,
    patch: InboxPatch,
) -> Result<Inbox, Fail> {
    let mut inbox = get_inbox(c, account, id)?;
    if let Some(name) = patch.name {
        inbox.name = name;
    }
    if let Some(routing) = patch.routing {
        inbox.routing = routing;
    }
    if let Some(defaults) = patch.notification_defaults {
        inbox.notification_defaults = defaults;
    }
    if let Some(filters) = patch.email_filters {
        inbox.email_filters = filters;
    }
    c.prepare_cached(
        "UPDATE inboxes SET name = ?3, routing = ?4, notification_defaults = ?5,
            email_filters = ?6
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        account,
        id,
        inbox.name,
        Json(&inbox.routing),
        Json(inbox.notification_defaults),
        Json(&inbox.email_filters),
    ])?;
    Ok(inbox)
}

pub(super) fn set_inbox_members(
    c: &Connection,
    account: AccountId,
    id: InboxId,
    member_ids: Vec<AgentId>,
) -> Result<Inbox, Fail> {
    let mut inbox = get_inbox(c, account, id)?;
    inbox.member_ids = checked_members(c, account, member_ids)?;
    replace_inbox_members(c, account, id, &inbox.member_ids)?;
    Ok(inbox)
}

/// Whether any row of `table` (a literal of this module) has `column = id` in `account`.
fn referenced(
    c: &Connection,
    table: &str,
    column: &str,
    account: AccountId,
    id: &dyn rusqlite::ToSql,
) -> Result<bool, Fail> {
    let sql =
        format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE account_id = ?1 AND {column} = ?2)");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![account, id], |r| r.get(0))?)
}

pub(super) fn delete_inbox(c: &Connection, account: AccountId, id: InboxId) -> Result<(), Fail> {
    if !exists(c, "inboxes", account, &id)? {
        return Err(not_found("inbox"));
    }
    if referenced(c, "channels", "inbox_id", account, &id)? {
        return Err(invalid(
            "id",
            "the inbox still has channels: delete or move them first",
        ));
    }
    if referenced(c, "conversations", "inbox_id", account, &id)?
        || referenced(c, "tickets", "inbox_id", account, &id)?
    {
        return Err(invalid(
            "id",
            "the inbox still has conversations and cannot be deleted",
        ));
    }
    // Memberships go by ON DELETE CASCADE.
    c.prepare_cached("DELETE FROM inboxes WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account, id])?;
    Ok(())
}

const CHANNEL_COLUMNS: &str = "id, account_id, inbox_id, kind, name, settings, created_at";

fn channel_row(r: &Row) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        inbox_id: r.get("inbox_id")?,
        kind: r.get("kind")?,
        name: r.get("name")?,
        settings: r.get::<_, Json<_>>("settings")?.0,
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

pub(super) fn create_channel(
    c: &Connection,
    account: AccountId,
    new: NewChannel,
) -> Result<Channel, Fail> {
    require_ref(c, "inboxes", account, &new.inbox_id, "inbox_id", "inbox")?;
    let channel = Channel {
        id: ChannelId::new(),
        account_id: account,
        inbox_id: new.inbox_id,
        kind: new.kind,
        name: new.name,
        settings: new.settings,
        created_at: now(),
    };
    c.prepare_cached(&format!(
        "INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        channel.id,
        account,
        channel.inbox_id,
        channel.kind,
        channel.name,
        Json(&channel.settings),
        Ts(channel.created_at),
    ])?;
    Ok(channel)
}

pub(super) fn get_channel(
    c: &Connection,
    account: AccountId,
    id: ChannelId,
) -> Result<Channel, Fail> {
    c.prepare_cached(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row(params![account, id], channel_row)
    .optional()?
    .ok_or_else(|| not_found("channel"))
}

pub(super) fn list_channels(
    c: &Connection,
    account: AccountId,
    inbox: Option<InboxId>,
) -> Result<Vec<Channel>, Fail> {
    let channels = c
        .prepare_cached(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels
             WHERE account_id = ?1 AND (?2 IS NULL OR inbox_id = ?2)
             ORDER BY id"
        ))?
        .query_map(params![account, inbox], channel_row)?
        .collect::<Result<_, _>>()?;
    Ok(channels)
}

pub(super) fn update_channel(
    c: &Connection,
    account: AccountId,
    id: ChannelId,
    patch: ChannelPatch,
) -> Result<Channel, Fail> {
    let mut channel = get_channel(c, account, id)?;
    if let Some(inbox) = patch.inbox_id {
        require_ref(c, "inboxes", account, &inbox, "inbox_id", "inbox")?;
        channel.inbox_id = inbox;
    }
    if let Some(name) = patch.name {
        channel.name = name;
    }
    if let Some(settings) = patch.settings {
        channel.settings = settings;
    }
    c.prepare_cached(
        "UPDATE channels SET inbox_id = ?3, name = ?4, settings = ?5
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        account,
        id,
        channel.inbox_id,
        channel.name,
        Json(&channel.settings),
    ])?;
    Ok(channel)
}

pub(super) fn delete_channel(
    c: &Connection,
    account: AccountId,
    id: ChannelId,
) -> Result<(), Fail> {
    if !exists(c, "channels", account, &id)? {
        return Err(not_found("channel"));
    }
    if referenced(c, "conversations", "channel_id", account, &id)? {
        return Err(invalid(
            "id",
            "the channel still has conversations and cannot be deleted",
        ));
    }
    // Its chatflows go by ON DELETE CASCADE.
    c.prepare_cached("DELETE FROM channels WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account, id])?;
    Ok(())
}

const CHATFLOW_COLUMNS: &str = "id, account_id, channel_id, name, kind, priority, enabled, \
    targeting, availability, branding, flow, flow_version, created_at";

fn chatflow_row(r: &Row) -> rusqlite::Result<Chatflow> {
    Ok(Chatflow {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        channel_id: r.get("channel_id")?,
        name: r.get("name")?,
        kind: r.get("kind")?,
        priority: r.get("priority")?,
        enabled: r.get("enabled")?,
        targeting: r.get::<_, Json<_>>("targeting")?.0,
        availability: r.get::<_, Json<_>>("availability")?.0,
        branding: r.get::<_, Json<_>>("branding")?.0,
        flow: r.get::<_, Option<Json<_>>>("flow")?.map(|j| j.0),
        flow_version: r.get("flow_version")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

pub(super) fn create_chatflow(
    c: &Connection,
    account: AccountId,
    new: NewChatflow,
) -> Result<Chatflow, Fail> {
    require_ref(
        c,
        "channels",
        account,
        &new.channel_id,
        "channel_id",
        "channel",
    )?;
    let flow = Chatflow {
        id: ChatflowId::new(),
        account_id: account,
        channel_id: new.channel_id,
        name: new.name,
        kind: new.kind,
        priority: new.priority,
        enabled: new.enabled,
        targeting: new.targeting,
        availability: new.availability,
        branding: new.branding,
        flow: new.flow,
        flow_version: 1,
        created_at: now(),
    };
    c.prepare_cached(&format!(
        "INSERT INTO chatflows ({CHATFLOW_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        flow.id,
        account,
        flow.channel_id,
        flow.name,
        flow.kind,
        flow.priority,
        flow.enabled,
        Json(&flow.targeting),
        Json(&flow.availability),
        Json(&flow.branding),
        flow.flow.as_ref().map(Json),
        flow.flow_version,
        Ts(flow.created_at),
    ])?;
    Ok(flow)
}

pub(super) fn get_chatflow(
    c: &Connection,
    account: AccountId,
    id: ChatflowId,
) -> Result<Chatflow, Fail> {
    c.prepare_cached(&format!(
        "SELECT {CHATFLOW_COLUMNS} FROM chatflows WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row(params![account, id], chatflow_row)
    .optional()?
    .ok_or_else(|| not_found("chatflow"))
}

pub(super) fn list_chatflows(
    c: &Connection,
    account: AccountId,
    channel: ChannelId,
) -> Result<Vec<Chatflow>, Fail> {
    let flows = c
        .prepare_cached(&format!(
            "SELECT {CHATFLOW_COLUMNS} FROM chatflows
             WHERE account_id = ?1 AND channel_id = ?2
             ORDER BY priority, id"
        ))?
        .query_map(params![account, channel], chatflow_row)?
        .collect::<Result<_, _>>()?;
    Ok(flows)
}

pub(super) fn update_chatflow(
    c: &Connection,
    account: AccountId,
    id: ChatflowId,
    patch: ChatflowPatch,
) -> Result<Chatflow, Fail> {
    let mut flow = get_chatflow(c, account, id)?;
    if let Some(name) = patch.name {
        flow.name = name;
    }
    if let Some(priority) = patch.priority {
        flow.priority = priority;
    }
    if let Some(enabled) = patch.enabled {
        flow.enabled = enabled;
    }
    if let Some(targeting) = patch.targeting {
        flow.targeting = targeting;
    }
    if let Some(availability) = patch.availability {
        flow.availability = availability;
    }
    if let Some(branding) = patch.branding {
        flow.branding = branding;
    }
    if let Some(new_flow) = patch.flow {
        flow.flow = new_flow;
        flow.flow_version += 1;
    }
    c.prepare_cached(
        "UPDATE chatflows SET name = ?3, priority = ?4, enabled = ?5, targeting = ?6,
            availability = ?7, branding = ?8, flow = ?9, flow_version = ?10
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        account,
        id,
        flow.name,
        flow.priority,
        flow.enabled,
        Json(&flow.targeting),
        Json(&flow.availability),
        Json(&flow.branding),
        flow.flow.as_ref().map(Json),
        flow.flow_version,
    ])?;
    Ok(flow)
}

pub(super) fn delete_chatflow(
    c: &Connection,
    account: AccountId,
    id: ChatflowId,
) -> Result<(), Fail> {
    let deleted = c
        .prepare_cached("DELETE FROM chatflows WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account, id])?;
    if deleted == 0 {
        return Err(not_found("chatflow"));
    }
    Ok(())
}
