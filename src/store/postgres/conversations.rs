//! Conversations, their timelines, tickets and report events on PostgreSQL.
//!
//! Every write to a conversation's timeline first locks the conversation row
//! (`SELECT … FOR UPDATE`): that serialises writers per conversation, so `seq` is `last_seq + 1`
//! without gaps or duplicates, and a retried client id is seen by the second writer. Report
//! events are written in the same transaction as the change they record.

use deadpool_postgres::{GenericClient, Pool};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{actor_agent, actor_columns};
use super::{ListQuery, execute, micros, not_found, now, query, query_one, query_opt, rows};
use crate::domain::*;
use crate::store::{Appended, MAX_PAGE_SIZE, Page, PageRequest, StoreError, StoreResult};

/// A report event as the writers here record it.
pub(super) struct ReportEvent<'a> {
    pub(super) kind: &'a str,
    pub(super) inbox_id: Uuid,
    pub(super) conversation_id: Uuid,
    pub(super) agent_id: Option<Uuid>,
    pub(super) data: Value,
    pub(super) at: OffsetDateTime,
}

pub(super) async fn insert_event(
    client: &impl GenericClient,
    account: AccountId,
    event: ReportEvent<'_>,
) -> StoreResult<()> {
    execute(
        client,
        "INSERT INTO events (account_id, kind, inbox_id, conversation_id, agent_id, data, \
         occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &account.0,
            &event.kind,
            &event.inbox_id,
            &event.conversation_id,
            &event.agent_id,
            &event.data,
            &event.at,
        ],
    )
    .await?;
    Ok(())
}

/// The conversation row, locked, with its channel's kind.
pub(super) async fn lock_conversation(
    client: &impl GenericClient,
    account: AccountId,
    id: ConversationId,
) -> StoreResult<(Conversation, ChannelKind)> {
    let row = query_opt(
        client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", (SELECT ch.kind FROM channels ch \
                WHERE ch.account_id = conversations.account_id \
                  AND ch.id = conversations.channel_id) AS channel_kind \
             FROM conversations WHERE account_id = $1 AND id = $2 FOR UPDATE"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("conversation"))?;
    let kind: String = row.try_get("channel_kind")?;
    let kind = ChannelKind::parse(&kind).map_err(StoreError::backend)?;
    Ok((rows::conversation(&row)?, kind))
}

/// Inserts a new open conversation of `new.channel_id` (in `inbox_id`, of kind `channel_kind`)
/// and its `conversation.created` report event, in the caller's transaction. Every writer that
/// starts conversations (REST, chat, email, Messenger, forms) comes through here. An unknown
/// contact fails conversations_contact_fkey: `Invalid { field: "contact_id" }`.
pub(super) async fn insert_conversation(
    tx: &impl GenericClient,
    account: AccountId,
    inbox_id: Uuid,
    channel_kind: &str,
    new: &NewConversation,
    actor: Actor,
) -> StoreResult<Conversation> {
    let at = now();
    let row = query_one(
        tx,
        concat!(
            "INSERT INTO conversations (id, account_id, inbox_id, channel_id, contact_id, \
             status, subject, last_seq, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, 0, $7, $7) RETURNING ",
            conversation_columns!()
        ),
        &[
            &ConversationId::new().0,
            &account.0,
            &inbox_id,
            &new.channel_id.0,
            &new.contact_id.0,
            &new.subject,
            &at,
        ],
    )
    .await?;
    let conversation = rows::conversation(&row)?;
    insert_event(
        tx,
        account,
        ReportEvent {
            kind: "conversation.created",
            inbox_id,
            conversation_id: conversation.id.0,
            agent_id: actor_agent(actor),
            data: json!({
                "channel_id": new.channel_id,
                "channel_kind": channel_kind,
                "contact_id": new.contact_id,
            }),
            at,
        },
    )
    .await?;
    Ok(conversation)
}

pub(super) async fn create_conversation(
    pool: &Pool,
    account: AccountId,
    new: NewConversation,
    actor: Actor,
) -> StoreResult<Conversation> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let channel = query_opt(
        &tx,
        "SELECT inbox_id, kind FROM channels WHERE account_id = $1 AND id = $2",
        &[&account.0, &new.channel_id.0],
    )
    .await?
    .ok_or_else(|| StoreError::Invalid {
        field: "channel_id",
        message: "no such channel in this account".into(),
    })?;
    let inbox_id: Uuid = channel.try_get("inbox_id")?;
    let channel_kind: String = channel.try_get("kind")?;
    let conversation =
        insert_conversation(&tx, account, inbox_id, &channel_kind, &new, actor).await?;
    tx.commit().await?;
    Ok(conversation)
}

pub(super) async fn get_conversation(
    pool: &Pool,
    account: AccountId,
    id: ConversationId,
) -> StoreResult<Conversation> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("conversation"))?;
    rows::conversation(&row)
}

pub(super) async fn list_conversations(
    pool: &Pool,
    account: AccountId,
    filter: ConversationFilter,
    page: PageRequest,
) -> StoreResult<Page<Conversation>> {
    let client = pool.get().await?;
    let mut list = ListQuery::new(
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE"
        ),
        account,
    );
    list.and_if(
        "inbox_id = ANY(?)",
        filter
            .visible_inboxes
            .map(|inboxes| inboxes.into_iter().map(|i| i.0).collect::<Vec<Uuid>>()),
    );
    list.and_if("inbox_id = ?", filter.inbox_id.map(|i| i.0));
    list.and_if("status = ?", filter.status.map(ConversationStatus::as_str));
    list.and_if("assignee_id = ?", filter.assignee_id.map(|a| a.0));
    list.and_if("team_id = ?", filter.team_id.map(|t| t.0));
    list.and_if("channel_id = ?", filter.channel_id.map(|c| c.0));
    list.and_if("contact_id = ?", filter.contact_id.map(|c| c.0));
    if filter.unassigned {
        list.and_sql("assignee_id IS NULL");
    }
    list.page(&client, page, rows::conversation, |c| c.id.0)
        .await
}

/// A timeline item about to be stored at the next `seq` of a locked conversation.
pub(super) struct ItemRow {
    pub(super) client_id: Option<Uuid>,
    pub(super) kind: ItemKind,
    pub(super) author: Actor,
    pub(super) direction: Option<Direction>,
    pub(super) body: Option<String>,
    pub(super) mentions: Vec<Uuid>,
    pub(super) data: Option<Value>,
    pub(super) delivery_status: Option<DeliveryStatus>,
}

/// Inserts `item` at `last_seq + 1` of the (locked) conversation and advances `last_seq`.
async fn insert_item(
    client: &impl GenericClient,
    conversation: &Conversation,
    item: ItemRow,
    at: OffsetDateTime,
) -> StoreResult<TimelineItem> {
    let seq = conversation.last_seq + 1;
    let (author_type, author_id) = actor_columns(item.author);
    let row = query_one(
        client,
        concat!(
            "INSERT INTO timeline_items (id, account_id, conversation_id, seq, client_id, kind, \
             author_type, author_id, direction, body, mentions, data, delivery_status, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING ",
            item_columns!()
        ),
        &[
            &TimelineItemId::new().0,
            &conversation.account_id.0,
            &conversation.id.0,
            &seq,
            &item.client_id,
            &item.kind.as_str(),
            &author_type,
            &author_id,
            &item.direction.map(Direction::as_str),
            &item.body,
            &item.mentions,
            &item.data,
            &item.delivery_status.map(DeliveryStatus::as_str),
            &at,
        ],
    )
    .await?;
    execute(
        client,
        "UPDATE conversations SET last_seq = $3, updated_at = $4 \
         WHERE account_id = $1 AND id = $2",
        &[&conversation.account_id.0, &conversation.id.0, &seq, &at],
    )
    .await?;
    rows::item(&row)
}

pub(super) async fn change_conversation(
    pool: &Pool,
    account: AccountId,
    id: ConversationId,
    change: ConversationChange,
    actor: Actor,
) -> StoreResult<(Conversation, Option<TimelineItem>)> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (current, _) = lock_conversation(&tx, account, id).await?;
    let (conversation, item) = match change {
        ConversationChange::Status(status) => {
            if status == current.status {
                return Ok((current, None));
            }
            execute(
                &tx,
                "UPDATE conversations SET status = $3 WHERE account_id = $1 AND id = $2",
                &[&account.0, &id.0, &status.as_str()],
            )
            .await?;
            let (from, to) = (current.status.as_str(), status.as_str());
            let item = record_change(
                &tx,
                &current,
                json!({"type": "status_changed", "from": from, "to": to}),
                "conversation.status_changed",
                json!({"from": from, "to": to}),
                actor,
                now(),
            )
            .await?;
            (read_conversation(&tx, account, id).await?, item)
        }
        ConversationChange::Assign {
            assignee_id,
            team_id,
        } => {
            if assignee_id == current.assignee_id && team_id == current.team_id {
                return Ok((current, None));
            }
            assign(&tx, &current, assignee_id, team_id, actor).await?
        }
    };
    tx.commit().await?;
    Ok((conversation, Some(item)))
}

/// Writes an assignment that changes something (checked by the caller, who holds the
/// conversation's lock) with its `assigned` item and `conversation.assigned` report event, and
/// stamps a new assignee's `last_assigned_at`. Shared by `change_conversation` and
/// `realtime::claim_conversation`, so a claim leaves the same trail as a manual assignment.
/// Returns the conversation as it now is.
pub(super) async fn assign(
    tx: &impl GenericClient,
    current: &Conversation,
    assignee_id: Option<AgentId>,
    team_id: Option<TeamId>,
    actor: Actor,
) -> StoreResult<(Conversation, TimelineItem)> {
    let (account, id) = (current.account_id, current.id);
    let at = now();
    // An agent or team outside the account fails its foreign key: Invalid, named.
    execute(
        tx,
        "UPDATE conversations SET assignee_id = $3, team_id = $4 \
         WHERE account_id = $1 AND id = $2",
        &[
            &account.0,
            &id.0,
            &assignee_id.map(|a| a.0),
            &team_id.map(|t| t.0),
        ],
    )
    .await?;
    if let Some(agent) = assignee_id.filter(|a| Some(*a) != current.assignee_id) {
        execute(
            tx,
            "UPDATE agents SET last_assigned_at = $3 WHERE account_id = $1 AND id = $2",
            &[&account.0, &agent.0, &at],
        )
        .await?;
    }
    let data = json!({
        "assignee_id": assignee_id,
        "team_id": team_id,
        "previous_assignee_id": current.assignee_id,
        "previous_team_id": current.team_id,
    });
    let mut item_data = json!({"type": "assigned"});
    if let (Some(item), Value::Object(fields)) = (item_data.as_object_mut(), &data) {
        item.extend(fields.clone());
    }
    let item = record_change(
        tx,
        current,
        item_data,
        "conversation.assigned",
        data,
        actor,
        at,
    )
    .await?;
    Ok((read_conversation(tx, account, id).await?, item))
}

/// Appends the event item and the report event recording a change to `current` (locked).
async fn record_change(
    tx: &impl GenericClient,
    current: &Conversation,
    item_data: Value,
    event_kind: &str,
    event_data: Value,
    actor: Actor,
    at: OffsetDateTime,
) -> StoreResult<TimelineItem> {
    let item = insert_item(
        tx,
        current,
        ItemRow {
            client_id: None,
            kind: ItemKind::Event,
            author: actor,
            direction: None,
            body: None,
            mentions: Vec::new(),
            data: Some(item_data),
            delivery_status: None,
        },
        at,
    )
    .await?;
    insert_event(
        tx,
        current.account_id,
        ReportEvent {
            kind: event_kind,
            inbox_id: current.inbox_id.0,
            conversation_id: current.id.0,
            agent_id: actor_agent(actor),
            data: event_data,
            at,
        },
    )
    .await?;
    Ok(item)
}

pub(super) async fn read_conversation(
    client: &impl GenericClient,
    account: AccountId,
    id: ConversationId,
) -> StoreResult<Conversation> {
    let row = query_opt(
        client,
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("conversation"))?;
    rows::conversation(&row)
}

/// A new item's report fact: its kind, and the mentions of a comment.
pub(super) type ItemFact = (&'static str, Option<Vec<Uuid>>);

/// The row to insert for a new item, and the report fact it makes (its kind, and the mentions
/// of a comment). Outbound messages on channels that send elsewhere start `pending`.
pub(super) fn new_item_row(new: NewItem, channel_kind: ChannelKind) -> (ItemRow, Option<ItemFact>) {
    match new.content {
        NewItemContent::Message { direction, body } => {
            // The outbox delivers email, Messenger and form replies; chat goes out on the socket.
            let delivery_status = (direction == Direction::Out
                && channel_kind != ChannelKind::Chat)
                .then_some(DeliveryStatus::Pending);
            let kind = match direction {
                Direction::In => "message.received",
                Direction::Out => "message.sent",
            };
            let row = ItemRow {
                client_id: new.client_id,
                kind: ItemKind::Message,
                author: new.author,
                direction: Some(direction),
                body: Some(body.into()),
                mentions: Vec::new(),
                data: None,
                delivery_status,
            };
            (row, Some((kind, None)))
        }
        NewItemContent::Comment { body, mentions } => {
            let mentions: Vec<Uuid> = mentions.into_iter().map(|m| m.0).collect();
            let row = ItemRow {
                client_id: new.client_id,
                kind: ItemKind::Comment,
                author: new.author,
                direction: None,
                body: Some(body.into()),
                mentions: mentions.clone(),
                data: None,
                delivery_status: None,
            };
            (row, Some(("comment.added", Some(mentions))))
        }
        NewItemContent::Event { data } => {
            let row = ItemRow {
                client_id: new.client_id,
                kind: ItemKind::Event,
                author: new.author,
                direction: None,
                body: None,
                mentions: Vec::new(),
                data: Some(data),
                delivery_status: None,
            };
            (row, None)
        }
    }
}

/// Inserts a new item at the (locked) conversation's next seq, with its report fact.
pub(super) async fn insert_new_item(
    tx: &impl GenericClient,
    conversation: &Conversation,
    channel_kind: ChannelKind,
    new: NewItem,
) -> StoreResult<TimelineItem> {
    let author = new.author;
    let (row, report) = new_item_row(new, channel_kind);
    let at = now();
    let item = insert_item(tx, conversation, row, at).await?;
    if item.delivery_status == Some(DeliveryStatus::Pending)
        && matches!(channel_kind, ChannelKind::Email | ChannelKind::Messenger)
    {
        super::outbox::enqueue(tx, conversation, &item, channel_kind, at).await?;
    }
    if let Some((kind, mentions)) = report {
        let mut data = json!({"seq": item.seq, "item_id": item.id});
        if let (Some(fields), Some(mentions)) = (data.as_object_mut(), mentions) {
            fields.insert("mentions".into(), json!(mentions));
        }
        insert_event(
            tx,
            conversation.account_id,
            ReportEvent {
                kind,
                inbox_id: conversation.inbox_id.0,
                conversation_id: conversation.id.0,
                agent_id: actor_agent(author),
                data,
                at,
            },
        )
        .await?;
    }
    Ok(item)
}

pub(super) async fn save_bot_turn(
    pool: &Pool,
    account: AccountId,
    turn: BotTurn,
) -> StoreResult<Vec<TimelineItem>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (mut conversation, channel_kind) =
        lock_conversation(&tx, account, turn.conversation_id).await?;
    let mut items = Vec::with_capacity(turn.items.len());
    for content in turn.items {
        let new = NewItem {
            client_id: None,
            author: Actor::Bot,
            content,
        };
        let item = insert_new_item(&tx, &conversation, channel_kind, new).await?;
        conversation.last_seq = item.seq;
        items.push(item);
    }
    let at = now();
    execute(
        &tx,
        "INSERT INTO bot_runs (account_id, conversation_id, chatflow_id, state, finished, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (conversation_id) DO UPDATE SET chatflow_id = EXCLUDED.chatflow_id, \
         state = EXCLUDED.state, finished = EXCLUDED.finished, updated_at = EXCLUDED.updated_at",
        &[
            &account.0,
            &conversation.id.0,
            &turn.chatflow_id.0,
            &turn.state,
            &turn.finished,
            &at,
        ],
    )
    .await?;
    for fact in turn.facts {
        insert_event(
            &tx,
            account,
            ReportEvent {
                kind: &fact.kind,
                inbox_id: conversation.inbox_id.0,
                conversation_id: conversation.id.0,
                agent_id: None,
                data: fact.data,
                at,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(items)
}

pub(super) async fn get_bot_run(
    pool: &Pool,
    account: AccountId,
    conversation: ConversationId,
) -> StoreResult<Option<BotRun>> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        "SELECT conversation_id, chatflow_id, state, finished, updated_at FROM bot_runs \
         WHERE account_id = $1 AND conversation_id = $2",
        &[&account.0, &conversation.0],
    )
    .await?;
    Ok(row.map(|r| BotRun {
        conversation_id: ConversationId(r.get("conversation_id")),
        chatflow_id: ChatflowId(r.get("chatflow_id")),
        state: r.get("state"),
        finished: r.get("finished"),
        updated_at: r.get("updated_at"),
    }))
}

pub(super) async fn append_item(
    pool: &Pool,
    account: AccountId,
    conversation_id: ConversationId,
    new: NewItem,
) -> StoreResult<Appended> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // The lock comes before the client-id check: a concurrent retry of the same client id waits
    // here, then finds the first writer's committed item instead of inserting a second.
    let (conversation, channel_kind) = lock_conversation(&tx, account, conversation_id).await?;
    if let Some(client_id) = new.client_id {
        let existing = query_opt(
            &tx,
            concat!(
                "SELECT ",
                item_columns!(),
                " FROM timeline_items WHERE conversation_id = $1 AND client_id = $2"
            ),
            &[&conversation_id.0, &client_id],
        )
        .await?;
        if let Some(row) = existing {
            let item = rows::item(&row)?;
            tx.commit().await?;
            return Ok(Appended {
                item,
                created: false,
            });
        }
    }
    let item = insert_new_item(&tx, &conversation, channel_kind, new).await?;
    tx.commit().await?;
    Ok(Appended {
        item,
        created: true,
    })
}

pub(super) async fn list_items(
    pool: &Pool,
    account: AccountId,
    conversation: ConversationId,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<TimelineItem>> {
    let client = pool.get().await?;
    read_conversation(&client, account, conversation).await?;
    query(
        &client,
        concat!(
            "SELECT ",
            item_columns!(),
            " FROM timeline_items WHERE account_id = $1 AND conversation_id = $2 AND seq > $3 \
             ORDER BY seq LIMIT $4"
        ),
        &[
            &account.0,
            &conversation.0,
            &after_seq,
            &i64::from(limit.clamp(1, MAX_PAGE_SIZE)),
        ],
    )
    .await?
    .iter()
    .map(rows::item)
    .collect()
}

pub(super) async fn create_ticket(
    pool: &Pool,
    account: AccountId,
    new: NewTicket,
) -> StoreResult<Ticket> {
    let client = pool.get().await?;
    // Inbox, contact and (absent a title) the title come from the conversation; without a
    // subject the title names the contact, as an agent would.
    let row = query_opt(
        &client,
        concat!(
            "INSERT INTO tickets (id, account_id, inbox_id, conversation_id, contact_id, title, \
             stage, priority, owner_id, created_at, updated_at) \
             SELECT $1, c.account_id, c.inbox_id, c.id, c.contact_id, \
                    COALESCE($4, NULLIF(btrim(c.subject), ''), \
                             'Conversation with ' || COALESCE(ct.name, ct.email, ct.phone), \
                             'Conversation'), \
                    'new', $5, $6, $7, $7 \
             FROM conversations c \
             LEFT JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id \
             WHERE c.account_id = $2 AND c.id = $3 \
             RETURNING ",
            ticket_columns!()
        ),
        &[
            &TicketId::new().0,
            &account.0,
            &new.conversation_id.0,
            &new.title.as_ref().map(Name::as_str),
            &new.priority.as_str(),
            &new.owner_id.map(|o| o.0),
            &now(),
        ],
    )
    .await?
    .ok_or_else(|| StoreError::Invalid {
        field: "conversation_id",
        message: "no such conversation in this account".into(),
    })?;
    rows::ticket(&row)
}

pub(super) async fn get_ticket(
    pool: &Pool,
    account: AccountId,
    id: TicketId,
) -> StoreResult<Ticket> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("ticket"))?;
    rows::ticket(&row)
}

pub(super) async fn update_ticket(
    pool: &Pool,
    account: AccountId,
    id: TicketId,
    patch: TicketPatch,
) -> StoreResult<Ticket> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "UPDATE tickets SET \
               title = COALESCE($3, title), \
               stage = COALESCE($4, stage), \
               priority = COALESCE($5, priority), \
               owner_id = CASE WHEN $6 THEN $7 ELSE owner_id END, \
               updated_at = $8 \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            ticket_columns!()
        ),
        &[
            &account.0,
            &id.0,
            &patch.title.as_ref().map(Name::as_str),
            &patch.stage.map(TicketStage::as_str),
            &patch.priority.map(TicketPriority::as_str),
            &patch.owner_id.is_some(),
            &patch.owner_id.flatten().map(|o| o.0),
            &now(),
        ],
    )
    .await?
    .ok_or(not_found("ticket"))?;
    rows::ticket(&row)
}

pub(super) async fn list_tickets(
    pool: &Pool,
    account: AccountId,
    filter: TicketFilter,
    page: PageRequest,
) -> StoreResult<Page<Ticket>> {
    let client = pool.get().await?;
    let mut list = ListQuery::new(
        concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE"),
        account,
    );
    list.and_if(
        "inbox_id = ANY(?)",
        filter
            .visible_inboxes
            .map(|inboxes| inboxes.into_iter().map(|i| i.0).collect::<Vec<Uuid>>()),
    );
    list.and_if("inbox_id = ?", filter.inbox_id.map(|i| i.0));
    list.and_if("stage = ?", filter.stage.map(TicketStage::as_str));
    list.and_if("priority = ?", filter.priority.map(TicketPriority::as_str));
    list.and_if("owner_id = ?", filter.owner_id.map(|o| o.0));
    list.and_if("contact_id = ?", filter.contact_id.map(|c| c.0));
    list.and_if("conversation_id = ?", filter.conversation_id.map(|c| c.0));
    if filter.unowned {
        list.and_sql("owner_id IS NULL");
    }
    list.page(&client, page, rows::ticket, |t| t.id.0).await
}

pub(super) async fn append_event(
    pool: &Pool,
    account: AccountId,
    event: NewEvent,
) -> StoreResult<Event> {
    let client = pool.get().await?;
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO events (account_id, kind, inbox_id, conversation_id, agent_id, data, \
             occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            event_columns!()
        ),
        &[
            &account.0,
            &event.kind,
            &event.inbox_id.map(|i| i.0),
            &event.conversation_id.map(|c| c.0),
            &event.agent_id.map(|a| a.0),
            &event.data,
            &micros(event.occurred_at),
        ],
    )
    .await?;
    rows::event(&row)
}

pub(super) async fn list_events(
    pool: &Pool,
    account: AccountId,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<Event>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ),
        &[
            &account.0,
            &after_id,
            &i64::from(limit.clamp(1, MAX_PAGE_SIZE)),
        ],
    )
    .await?
    .iter()
    .map(rows::event)
    .collect()
}
