//! Conversations, their timelines, and the report events written alongside.
//!
//! Every function here runs inside the caller's `BEGIN IMMEDIATE` transaction, which is what
//! makes reading `last_seq` and writing `last_seq + 1` safe against concurrent appends.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::columns::{Json, SqlUuid, Ts, actor_columns, actor_from, now, truncate};
use super::{Fail, Filter, actor_agent, into_page, invalid, not_found, require_ref};
use crate::domain::*;
use crate::store::{MAX_PAGE_SIZE, Page, PageRequest};

pub(super) const CONVERSATION_COLUMNS: &str = "id, account_id, inbox_id, channel_id, contact_id, status, \
    assignee_id, team_id, subject, last_seq, created_at, updated_at";

pub(super) fn conversation_row(r: &Row) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        inbox_id: r.get("inbox_id")?,
        channel_id: r.get("channel_id")?,
        contact_id: r.get("contact_id")?,
        status: r.get("status")?,
        assignee_id: r.get("assignee_id")?,
        team_id: r.get("team_id")?,
        subject: r.get("subject")?,
        last_seq: r.get("last_seq")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
        updated_at: r.get::<_, Ts>("updated_at")?.0,
    })
}

pub(super) fn get_conversation(
    c: &Connection,
    account: AccountId,
    id: ConversationId,
) -> Result<Conversation, Fail> {
    c.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row(params![account, id], conversation_row)
    .optional()?
    .ok_or_else(|| not_found("conversation"))
}

pub(super) fn channel_kind(
    c: &Connection,
    account: AccountId,
    channel: ChannelId,
) -> Result<Option<(InboxId, ChannelKind)>, Fail> {
    let found = c
        .prepare_cached("SELECT inbox_id, kind FROM channels WHERE account_id = ?1 AND id = ?2")?
        .query_row(params![account, channel], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(found)
}

pub(super) fn create_conversation(
    c: &Connection,
    account: AccountId,
    new: NewConversation,
    actor: Actor,
) -> Result<Conversation, Fail> {
    let (inbox_id, kind) = channel_kind(c, account, new.channel_id)?.ok_or_else(|| {
        invalid(
            "channel_id",
            format!("channel {} is not in this account", new.channel_id),
        )
    })?;
    require_ref(
        c,
        "contacts",
        account,
        &new.contact_id,
        "contact_id",
        "contact",
    )?;
    let now = now();
    let conversation = Conversation {
        id: ConversationId::new(),
        account_id: account,
        inbox_id,
        channel_id: new.channel_id,
        contact_id: new.contact_id,
        status: ConversationStatus::Open,
        assignee_id: None,
        team_id: None,
        subject: new.subject,
        last_seq: 0,
        created_at: now,
        updated_at: now,
    };
    c.prepare_cached(&format!(
        "INSERT INTO conversations ({CONVERSATION_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        conversation.id,
        account,
        conversation.inbox_id,
        conversation.channel_id,
        conversation.contact_id,
        conversation.status,
        conversation.assignee_id,
        conversation.team_id,
        conversation.subject,
        conversation.last_seq,
        Ts(conversation.created_at),
        Ts(conversation.updated_at),
    ])?;
    report(
        c,
        &conversation,
        "conversation.created",
        actor_agent(actor),
        json!({
            "channel_id": conversation.channel_id,
            "channel_kind": kind.as_str(),
            "contact_id": conversation.contact_id,
        }),
        now,
    )?;
    Ok(conversation)
}

pub(super) fn list_conversations(
    c: &Connection,
    account: AccountId,
    filter: ConversationFilter,
    page: PageRequest,
) -> Result<Page<Conversation>, Fail> {
    let mut sql = Filter::new(account);
    sql.any_of("inbox_id", filter.visible_inboxes);
    sql.eq("inbox_id", filter.inbox_id);
    sql.eq("status", filter.status);
    sql.eq("assignee_id", filter.assignee_id);
    sql.eq("team_id", filter.team_id);
    sql.eq("channel_id", filter.channel_id);
    sql.eq("contact_id", filter.contact_id);
    if filter.unassigned {
        sql.condition("assignee_id IS NULL", Vec::new());
    }
    let (query, sql) = sql.page_query("conversations", CONVERSATION_COLUMNS, page);
    let rows = c
        .prepare(&query)?
        .query_map(sql.params(), conversation_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(into_page(rows, page.clamped_limit(), |conv| conv.id.0))
}

pub(super) fn change_conversation(
    c: &Connection,
    account: AccountId,
    id: ConversationId,
    change: ConversationChange,
    actor: Actor,
) -> Result<(Conversation, Option<TimelineItem>), Fail> {
    let mut conversation = get_conversation(c, account, id)?;
    match change {
        ConversationChange::Status(to) => {
            if conversation.status == to {
                return Ok((conversation, None));
            }
            let from = conversation.status;
            conversation.status = to;
            let item = record_change(
                c,
                &mut conversation,
                json!({"type": "status_changed", "from": from.as_str(), "to": to.as_str()}),
                "conversation.status_changed",
                json!({"from": from.as_str(), "to": to.as_str()}),
                actor,
            )?;
            Ok((conversation, Some(item)))
        }
        ConversationChange::Assign {
            assignee_id,
            team_id,
        } => {
            if let Some(agent) = &assignee_id {
                require_ref(c, "agents", account, agent, "assignee_id", "agent")?;
            }
            if let Some(team) = &team_id {
                require_ref(c, "teams", account, team, "team_id", "team")?;
            }
            if conversation.assignee_id == assignee_id && conversation.team_id == team_id {
                return Ok((conversation, None));
            }
            let item = assign(c, &mut conversation, assignee_id, team_id, actor)?;
            Ok((conversation, Some(item)))
        }
    }
}

/// Writes an assignment that changes something (checked by the caller) with its `assigned`
/// item and `conversation.assigned` report event, and stamps a new assignee's
/// `last_assigned_at`. Shared by `change_conversation` and `claim_conversation`, so a claim
/// leaves the same trail as a manual assignment.
pub(super) fn assign(
    c: &Connection,
    conversation: &mut Conversation,
    assignee_id: Option<AgentId>,
    team_id: Option<TeamId>,
    actor: Actor,
) -> Result<TimelineItem, Fail> {
    let previous_assignee = conversation.assignee_id;
    let data = json!({
        "assignee_id": assignee_id,
        "team_id": team_id,
        "previous_assignee_id": conversation.assignee_id,
        "previous_team_id": conversation.team_id,
    });
    let mut item_data = data.clone();
    if let Value::Object(fields) = &mut item_data {
        fields.insert("type".into(), "assigned".into());
    }
    conversation.assignee_id = assignee_id;
    conversation.team_id = team_id;
    let item = record_change(
        c,
        conversation,
        item_data,
        "conversation.assigned",
        data,
        actor,
    )?;
    if let Some(agent) = assignee_id.filter(|a| Some(*a) != previous_assignee) {
        c.prepare_cached(
            "UPDATE agents SET last_assigned_at = ?3 WHERE account_id = ?1 AND id = ?2",
        )?
        .execute(params![conversation.account_id, agent, Ts(item.created_at)])?;
    }
    Ok(item)
}

/// Stores the conversation's status and assignment as they now are in `conversation`, with the
/// event item and the report event recording the change.
fn record_change(
    c: &Connection,
    conversation: &mut Conversation,
    item_data: Value,
    report_kind: &str,
    report_data: Value,
    actor: Actor,
) -> Result<TimelineItem, Fail> {
    c.prepare_cached(
        "UPDATE conversations SET status = ?3, assignee_id = ?4, team_id = ?5
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        conversation.account_id,
        conversation.id,
        conversation.status,
        conversation.assignee_id,
        conversation.team_id,
    ])?;
    let item = insert_item(
        c,
        conversation,
        None,
        NewItem {
            client_id: None,
            author: actor,
            content: NewItemContent::Event { data: item_data },
        },
    )?;
    report(
        c,
        conversation,
        report_kind,
        actor_agent(actor),
        report_data,
        item.created_at,
    )?;
    Ok(item)
}

pub(super) const ITEM_COLUMNS: &str = "id, conversation_id, seq, client_id, kind, author_type, author_id, \
    direction, body, mentions, data, delivery_status, delivery_error, created_at";

pub(super) fn item_row(r: &Row) -> rusqlite::Result<TimelineItem> {
    let author_type: String = r.get("author_type")?;
    Ok(TimelineItem {
        id: r.get("id")?,
        conversation_id: r.get("conversation_id")?,
        seq: r.get("seq")?,
        client_id: r.get::<_, Option<SqlUuid>>("client_id")?.map(|u| u.0),
        kind: r.get("kind")?,
        author: actor_from(&author_type, r.get("author_id")?)?,
        direction: r.get("direction")?,
        body: r.get("body")?,
        mentions: r.get::<_, Json<_>>("mentions")?.0,
        data: r.get::<_, Option<Json<_>>>("data")?.map(|j| j.0),
        delivery_status: r.get("delivery_status")?,
        delivery_error: r.get("delivery_error")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

/// Stores `item` as the conversation's next `seq` and moves `last_seq` and `updated_at` with
/// it. `channel` is the conversation's channel kind, needed only for outbound messages.
fn insert_item(
    c: &Connection,
    conversation: &mut Conversation,
    channel: Option<ChannelKind>,
    item: NewItem,
) -> Result<TimelineItem, Fail> {
    let created_at = now();
    let (kind, direction, body, mentions, data) = match item.content {
        NewItemContent::Message { direction, body } => (
            ItemKind::Message,
            Some(direction),
            Some(body.into()),
            Vec::new(),
            None,
        ),
        NewItemContent::Comment { body, mentions } => {
            (ItemKind::Comment, None, Some(body.into()), mentions, None)
        }
        NewItemContent::Event { data } => (ItemKind::Event, None, None, Vec::new(), Some(data)),
    };
    // The outbox delivers outbound messages on channels that send elsewhere; chat is live.
    let delivery_status = match (direction, channel) {
        (
            Some(Direction::Out),
            Some(ChannelKind::Email | ChannelKind::Messenger | ChannelKind::Form),
        ) => Some(DeliveryStatus::Pending),
        _ => None,
    };
    let stored = TimelineItem {
        id: TimelineItemId::new(),
        conversation_id: conversation.id,
        seq: conversation.last_seq + 1,
        client_id: item.client_id,
        kind,
        author: item.author,
        direction,
        body,
        mentions,
        data,
        delivery_status,
        delivery_error: None,
        created_at,
    };
    let (author_type, author_id) = actor_columns(stored.author);
    c.prepare_cached(
        "INSERT INTO timeline_items (id, account_id, conversation_id, seq, client_id, kind,
            author_type, author_id, direction, body, mentions, data, delivery_status,
            delivery_error, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        stored.id,
        conversation.account_id,
        stored.conversation_id,
        stored.seq,
        stored.client_id.map(SqlUuid),
        stored.kind,
        author_type,
        author_id,
        stored.direction,
        stored.body,
        Json(&stored.mentions),
        stored.data.as_ref().map(Json),
        stored.delivery_status,
        stored.delivery_error,
        Ts(stored.created_at),
    ])?;
    c.prepare_cached(
        "UPDATE conversations SET last_seq = ?3, updated_at = ?4
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        conversation.account_id,
        conversation.id,
        stored.seq,
        Ts(created_at),
    ])?;
    conversation.last_seq = stored.seq;
    conversation.updated_at = created_at;
    if let (
        Some(DeliveryStatus::Pending),
        Some(kind @ (ChannelKind::Email | ChannelKind::Messenger)),
    ) = (stored.delivery_status, channel)
    {
        super::outbox::enqueue(c, conversation, &stored, kind)?;
    }
    Ok(stored)
}

pub(super) fn append_item(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
    item: NewItem,
) -> Result<Appended, Fail> {
    let mut conv = get_conversation(c, account, conversation)?;
    if let Some(client_id) = item.client_id {
        let existing = c
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM timeline_items
                 WHERE conversation_id = ?1 AND client_id = ?2"
            ))?
            .query_row(params![conversation, SqlUuid(client_id)], item_row)
            .optional()?;
        if let Some(item) = existing {
            return Ok(Appended {
                item,
                created: false,
            });
        }
    }
    let kind = channel_kind(c, account, conv.channel_id)?.map(|(_, kind)| kind);
    let stored = insert_item(c, &mut conv, kind, item)?;
    let seq_and_id = |extra: Option<(&str, Value)>| {
        let mut data = json!({"seq": stored.seq, "item_id": stored.id});
        if let (Some((key, value)), Value::Object(fields)) = (extra, &mut data) {
            fields.insert(key.into(), value);
        }
        data
    };
    let event = match (stored.kind, stored.direction) {
        (ItemKind::Message, Some(Direction::In)) => Some(("message.received", seq_and_id(None))),
        (ItemKind::Message, _) => Some(("message.sent", seq_and_id(None))),
        (ItemKind::Comment, _) => Some((
            "comment.added",
            seq_and_id(Some(("mentions", json!(stored.mentions)))),
        )),
        // Event items appended directly are not report facts.
        (ItemKind::Event, _) => None,
    };
    if let Some((kind, data)) = event {
        report(
            c,
            &conv,
            kind,
            actor_agent(stored.author),
            data,
            stored.created_at,
        )?;
    }
    Ok(Appended {
        item: stored,
        created: true,
    })
}

pub(super) fn list_items(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<TimelineItem>, Fail> {
    // The account check: items carry their conversation's account, but a missing conversation
    // must be NotFound, not an empty timeline.
    get_conversation(c, account, conversation)?;
    let items = c
        .prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM timeline_items
             WHERE account_id = ?1 AND conversation_id = ?2 AND seq > ?3
             ORDER BY seq LIMIT ?4"
        ))?
        .query_map(
            params![
                account,
                conversation,
                after_seq,
                limit.clamp(1, MAX_PAGE_SIZE)
            ],
            item_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(items)
}

/// Writes the report event of a change to `conversation`.
fn report(
    c: &Connection,
    conversation: &Conversation,
    kind: &str,
    agent: Option<AgentId>,
    data: Value,
    occurred_at: OffsetDateTime,
) -> Result<Event, Fail> {
    append_event(
        c,
        conversation.account_id,
        NewEvent {
            kind: kind.to_owned(),
            inbox_id: Some(conversation.inbox_id),
            conversation_id: Some(conversation.id),
            agent_id: agent,
            data,
            occurred_at,
        },
    )
}

pub(super) fn append_event(
    c: &Connection,
    account: AccountId,
    event: NewEvent,
) -> Result<Event, Fail> {
    let occurred_at = truncate(event.occurred_at);
    c.prepare_cached(
        "INSERT INTO events (account_id, kind, inbox_id, conversation_id, agent_id, data,
            occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        account,
        event.kind,
        event.inbox_id,
        event.conversation_id,
        event.agent_id,
        Json(&event.data),
        Ts(occurred_at),
    ])?;
    Ok(Event {
        id: c.last_insert_rowid(),
        account_id: account,
        kind: event.kind,
        inbox_id: event.inbox_id,
        conversation_id: event.conversation_id,
        agent_id: event.agent_id,
        data: event.data,
        occurred_at,
    })
}

pub(super) fn list_events(
    c: &Connection,
    account: AccountId,
    after_id: i64,
    limit: u32,
) -> Result<Vec<Event>, Fail> {
    let events = c
        .prepare_cached(
            "SELECT id, account_id, kind, inbox_id, conversation_id, agent_id, data, occurred_at
             FROM events WHERE account_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?
        .query_map(
            params![account, after_id, limit.clamp(1, MAX_PAGE_SIZE)],
            |r| {
                Ok(Event {
                    id: r.get("id")?,
                    account_id: r.get("account_id")?,
                    kind: r.get("kind")?,
                    inbox_id: r.get("inbox_id")?,
                    conversation_id: r.get("conversation_id")?,
                    agent_id: r.get("agent_id")?,
                    data: r.get::<_, Json<_>>("data")?.0,
                    occurred_at: r.get::<_, Ts>("occurred_at")?.0,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(events)
}

pub(super) fn save_bot_turn(
    c: &Connection,
    account: AccountId,
    turn: BotTurn,
) -> Result<Vec<TimelineItem>, Fail> {
    let mut items = Vec::with_capacity(turn.items.len());
    for content in turn.items {
        let new = NewItem {
            client_id: None,
            author: Actor::Bot,
            content,
        };
        items.push(append_item(c, account, turn.conversation_id, new)?.item);
    }
    // Also proves the conversation is the account's when the bot said nothing this turn.
    let conversation = get_conversation(c, account, turn.conversation_id)?;
    let at = now();
    c.prepare_cached(
        "INSERT INTO bot_runs (account_id, conversation_id, chatflow_id, state, finished,
            updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (conversation_id) DO UPDATE SET chatflow_id = excluded.chatflow_id,
            state = excluded.state, finished = excluded.finished,
            updated_at = excluded.updated_at",
    )?
    .execute(params![
        account,
        conversation.id,
        turn.chatflow_id,
        Json(&turn.state),
        turn.finished,
        Ts(at),
    ])?;
    for fact in turn.facts {
        report_bot_fact(c, &conversation, fact, at)?;
    }
    Ok(items)
}

/// A bot's report fact, recorded against the conversation (no agent acted).
fn report_bot_fact(
    c: &Connection,
    conversation: &Conversation,
    fact: BotFact,
    at: OffsetDateTime,
) -> Result<(), Fail> {
    report(c, conversation, &fact.kind, None, fact.data, at).map(|_| ())
}

pub(super) fn get_bot_run(
    c: &Connection,
    account: AccountId,
    conversation: ConversationId,
) -> Result<Option<BotRun>, Fail> {
    Ok(c.prepare_cached(
        "SELECT conversation_id, chatflow_id, state, finished, updated_at FROM bot_runs
             WHERE account_id = ?1 AND conversation_id = ?2",
    )?
    .query_row(params![account, conversation], |r| {
        Ok(BotRun {
            conversation_id: r.get("conversation_id")?,
            chatflow_id: r.get("chatflow_id")?,
            state: r.get::<_, Json<Value>>("state")?.0,
            finished: r.get("finished")?,
            updated_at: r.get::<_, Ts>("updated_at")?.0,
        })
    })
    .optional()?)
}
