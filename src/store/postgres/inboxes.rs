//! Inboxes (with members), channels and chatflows on PostgreSQL.

use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use tokio_postgres::types::Json;

use super::{execute, not_found, now, query, query_one, query_opt, rows, sorted_ids};
use crate::domain::*;
use crate::store::{StoreError, StoreResult};

/// `inbox-` + 12 random lower-case hex digits (48 bits: a collision among even millions of
/// inboxes is unlikely, and would be refused by the unique constraint rather than shared).
fn fallback_local_part() -> StoreResult<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness for an inbox address: {e}")))?;
    Ok(format!("inbox-{}", hex::encode(bytes)))
}

async fn read_inbox(
    client: &impl GenericClient,
    account: AccountId,
    id: InboxId,
) -> StoreResult<Inbox> {
    let row = query_opt(
        client,
        concat!(
            "SELECT ",
            inbox_columns!(),
            " FROM inboxes WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("inbox"))?;
    rows::inbox(&row)
}

/// Locks the inbox row for the rest of the transaction; `NotFound` when it is not the account's.
async fn lock_inbox(
    client: &impl GenericClient,
    account: AccountId,
    id: InboxId,
) -> StoreResult<()> {
    query_opt(
        client,
        "SELECT id FROM inboxes WHERE account_id = $1 AND id = $2 FOR UPDATE",
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("inbox"))
    .map(drop)
}

async fn write_inbox_members(
    client: &impl GenericClient,
    account: AccountId,
    inbox: InboxId,
    member_ids: Vec<AgentId>,
) -> StoreResult<()> {
    let members = sorted_ids(member_ids.into_iter().map(|m| m.0));
    execute(
        client,
        "DELETE FROM inbox_members WHERE account_id = $1 AND inbox_id = $2",
        &[&account.0, &inbox.0],
    )
    .await?;
    execute(
        client,
        "INSERT INTO inbox_members (account_id, inbox_id, agent_id) \
         SELECT $1, $2, unnest($3::uuid[])",
        &[&account.0, &inbox.0, &members],
    )
    .await?;
    Ok(())
}

pub(super) async fn create_inbox(
    pool: &Pool,
    account: AccountId,
    new: NewInbox,
) -> StoreResult<Inbox> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let id = InboxId::new();
    execute(
        &tx,
        "INSERT INTO inboxes (id, account_id, name, routing, notification_defaults, \
         email_filters, fallback_local_part, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &id.0,
            &account.0,
            &new.name.as_str(),
            &Json(&new.routing),
            &Json(&new.notification_defaults),
            &Json(&new.email_filters),
            &fallback_local_part()?,
            &now(),
        ],
    )
    .await?;
    write_inbox_members(&tx, account, id, new.member_ids).await?;
    let inbox = read_inbox(&tx, account, id).await?;
    tx.commit().await?;
    Ok(inbox)
}

pub(super) async fn get_inbox(pool: &Pool, account: AccountId, id: InboxId) -> StoreResult<Inbox> {
    let client = pool.get().await?;
    read_inbox(&client, account, id).await
}

pub(super) async fn list_inboxes(
    pool: &Pool,
    account: AccountId,
    member: Option<AgentId>,
) -> StoreResult<Vec<Inbox>> {
    let client = pool.get().await?;
    let rows = match member {
        None => {
            query(
                &client,
                concat!(
                    "SELECT ",
                    inbox_columns!(),
                    " FROM inboxes WHERE account_id = $1 ORDER BY id"
                ),
                &[&account.0],
            )
            .await?
        }
        Some(member) => {
            query(
                &client,
                concat!(
                    "SELECT ",
                    inbox_columns!(),
                    " FROM inboxes WHERE account_id = $1 AND id IN \
                     (SELECT inbox_id FROM inbox_members WHERE account_id = $1 AND agent_id = $2) \
                     ORDER BY id"
                ),
                &[&account.0, &member.0],
            )
            .await?
        }
    };
    rows.iter().map(rows::inbox).collect()
}

pub(super) async fn update_inbox(
    pool: &Pool,
    account: AccountId,
    id: InboxId,
    patch: InboxPatch,
) -> StoreResult<Inbox> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "UPDATE inboxes SET \
               name = COALESCE($3, name), \
               routing = COALESCE($4, routing), \
               notification_defaults = COALESCE($5, notification_defaults), \
               email_filters = COALESCE($6, email_filters) \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            inbox_columns!()
        ),
        &[
            &account.0,
            &id.0,
            &patch.name.as_ref().map(Name::as_str),
            &patch.routing.as_ref().map(Json),
            &patch.notification_defaults.as_ref().map(Json),
            &patch.email_filters.as_ref().map(Json),
        ],
    )
    .await?
    .ok_or(not_found("inbox"))?;
    rows::inbox(&row)
}

pub(super) async fn set_inbox_members(
    pool: &Pool,
    account: AccountId,
    id: InboxId,
    member_ids: Vec<AgentId>,
) -> StoreResult<Inbox> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    lock_inbox(&tx, account, id).await?;
    write_inbox_members(&tx, account, id, member_ids).await?;
    let inbox = read_inbox(&tx, account, id).await?;
    tx.commit().await?;
    Ok(inbox)
}

fn still_used(what: &str) -> StoreError {
    StoreError::Invalid {
        field: "id",
        message: format!("it still has {what}: move or delete them first"),
    }
}

/// A delete that would orphan rows fails a referencing foreign key; after the explicit check
/// that can only be a row added concurrently, and it means the same as the check.
fn refused_delete(e: StoreError, what: &str) -> StoreError {
    match e {
        StoreError::Invalid { .. } => still_used(what),
        other => other,
    }
}

pub(super) async fn delete_inbox(pool: &Pool, account: AccountId, id: InboxId) -> StoreResult<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // The lock makes a concurrent channel or conversation insert for this inbox wait for us.
    lock_inbox(&tx, account, id).await?;
    let row = query_one(
        &tx,
        "SELECT EXISTS (SELECT 1 FROM channels WHERE account_id = $1 AND inbox_id = $2) \
             OR EXISTS (SELECT 1 FROM conversations WHERE account_id = $1 AND inbox_id = $2) \
             AS used",
        &[&account.0, &id.0],
    )
    .await?;
    if row.try_get::<_, bool>("used")? {
        return Err(still_used("channels or conversations"));
    }
    execute(
        &tx,
        "DELETE FROM inboxes WHERE account_id = $1 AND id = $2",
        &[&account.0, &id.0],
    )
    .await
    .map_err(|e| refused_delete(e, "channels or conversations"))?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn create_channel(
    pool: &Pool,
    account: AccountId,
    new: NewChannel,
) -> StoreResult<Channel> {
    let client = pool.get().await?;
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO channels (id, account_id, inbox_id, kind, name, settings, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            channel_columns!()
        ),
        &[
            &ChannelId::new().0,
            &account.0,
            &new.inbox_id.0,
            &new.kind.as_str(),
            &new.name.as_str(),
            &Value::Object(new.settings),
            &now(),
        ],
    )
    .await?;
    rows::channel(&row)
}

pub(super) async fn get_channel(
    pool: &Pool,
    account: AccountId,
    id: ChannelId,
) -> StoreResult<Channel> {
    let client = pool.get().await?;
    read_channel(&client, account, id).await
}

async fn read_channel(
    client: &impl GenericClient,
    account: AccountId,
    id: ChannelId,
) -> StoreResult<Channel> {
    let row = query_opt(
        client,
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("channel"))?;
    rows::channel(&row)
}

pub(super) async fn list_channels(
    pool: &Pool,
    account: AccountId,
    inbox: Option<InboxId>,
) -> StoreResult<Vec<Channel>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE account_id = $1 AND ($2::uuid IS NULL OR inbox_id = $2) \
             ORDER BY id"
        ),
        &[&account.0, &inbox.map(|i| i.0)],
    )
    .await?
    .iter()
    .map(rows::channel)
    .collect()
}

pub(super) async fn update_channel(
    pool: &Pool,
    account: AccountId,
    id: ChannelId,
    patch: ChannelPatch,
) -> StoreResult<Channel> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "UPDATE channels SET \
               inbox_id = COALESCE($3, inbox_id), \
               name = COALESCE($4, name), \
               settings = COALESCE($5, settings) \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            channel_columns!()
        ),
        &[
            &account.0,
            &id.0,
            &patch.inbox_id.map(|i| i.0),
            &patch.name.as_ref().map(Name::as_str),
            &patch.settings.map(Value::Object),
        ],
    )
    .await?
    .ok_or(not_found("channel"))?;
    rows::channel(&row)
}

pub(super) async fn delete_channel(
    pool: &Pool,
    account: AccountId,
    id: ChannelId,
) -> StoreResult<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    query_opt(
        &tx,
        "SELECT id FROM channels WHERE account_id = $1 AND id = $2 FOR UPDATE",
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("channel"))?;
    let row = query_one(
        &tx,
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE account_id = $1 AND channel_id = $2) \
         AS used",
        &[&account.0, &id.0],
    )
    .await?;
    if row.try_get::<_, bool>("used")? {
        return Err(still_used("conversations"));
    }
    // Its chatflows go with it (ON DELETE CASCADE).
    execute(
        &tx,
        "DELETE FROM channels WHERE account_id = $1 AND id = $2",
        &[&account.0, &id.0],
    )
    .await
    .map_err(|e| refused_delete(e, "conversations"))?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn create_chatflow(
    pool: &Pool,
    account: AccountId,
    new: NewChatflow,
) -> StoreResult<Chatflow> {
    let client = pool.get().await?;
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO chatflows (id, account_id, channel_id, name, kind, priority, enabled, \
             targeting, availability, branding, flow, flow_version, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12) RETURNING ",
            chatflow_columns!()
        ),
        &[
            &ChatflowId::new().0,
            &account.0,
            &new.channel_id.0,
            &new.name.as_str(),
            &new.kind.as_str(),
            &new.priority,
            &new.enabled,
            &new.targeting,
            &new.availability,
            &new.branding,
            &new.flow,
            &now(),
        ],
    )
    .await?;
    rows::chatflow(&row)
}

pub(super) async fn get_chatflow(
    pool: &Pool,
    account: AccountId,
    id: ChatflowId,
) -> StoreResult<Chatflow> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "SELECT ",
            chatflow_columns!(),
            " FROM chatflows WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("chatflow"))?;
    rows::chatflow(&row)
}

/// `NotFound` for a channel outside the account, so a caller can tell it from "no chatflows".
pub(super) async fn list_chatflows(
    pool: &Pool,
    account: AccountId,
    channel: ChannelId,
) -> StoreResult<Vec<Chatflow>> {
    let client = pool.get().await?;
    read_channel(&client, account, channel).await?;
    query(
        &client,
        concat!(
            "SELECT ",
            chatflow_columns!(),
            " FROM chatflows WHERE account_id = $1 AND channel_id = $2 ORDER BY priority, id"
        ),
        &[&account.0, &channel.0],
    )
    .await?
    .iter()
    .map(rows::chatflow)
    .collect()
}

pub(super) async fn update_chatflow(
    pool: &Pool,
    account: AccountId,
    id: ChatflowId,
    patch: ChatflowPatch,
) -> StoreResult<Chatflow> {
    let client = pool.get().await?;
    let sets_flow = patch.flow.is_some();
    let row = query_opt(
        &client,
        concat!(
            "UPDATE chatflows SET \
               name = COALESCE($3, name), \
               priority = COALESCE($4, priority), \
               enabled = COALESCE($5, enabled), \
               targeting = COALESCE($6, targeting), \
               availability = COALESCE($7, availability), \
               branding = COALESCE($8, branding), \
               flow = CASE WHEN $9 THEN $10 ELSE flow END, \
               flow_version = flow_version + CASE WHEN $9 THEN 1 ELSE 0 END \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            chatflow_columns!()
        ),
        &[
            &account.0,
            &id.0,
            &patch.name.as_ref().map(Name::as_str),
            &patch.priority,
            &patch.enabled,
            &patch.targeting,
            &patch.availability,
            &patch.branding,
            &sets_flow,
            &patch.flow.flatten(),
        ],
    )
    .await?
    .ok_or(not_found("chatflow"))?;
    rows::chatflow(&row)
}

pub(super) async fn delete_chatflow(
    pool: &Pool,
    account: AccountId,
    id: ChatflowId,
) -> StoreResult<()> {
    let client = pool.get().await?;
    let deleted = execute(
        &client,
        "DELETE FROM chatflows WHERE account_id = $1 AND id = $2",
        &[&account.0, &id.0],
    )
    .await?;
    if deleted == 0 {
        return Err(not_found("chatflow"));
    }
    Ok(())
}
