//! Decoding rows into records, column by name (the lists in `columns`), and the reverse
//! encodings the writers share (actors, enum words). A value the domain refuses is a
//! [`Corrupt`] backend error, never a panic.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Json};
use uuid::Uuid;

use super::error::Corrupt;
use crate::domain::*;
use crate::store::{LoginRecord, StoreError, StoreResult};

fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> StoreResult<T> {
    Ok(row.try_get(column)?)
}

/// A stored value parsed by its domain type's `parse`.
fn parsed<T>(
    row: &Row,
    column: &'static str,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> StoreResult<T> {
    let raw: String = get(row, column)?;
    parse(&raw).map_err(|e| corrupt(column, e.message))
}

fn parsed_opt<T>(
    row: &Row,
    column: &'static str,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> StoreResult<Option<T>> {
    let raw: Option<String> = get(row, column)?;
    raw.map(|raw| parse(&raw).map_err(|e| corrupt(column, e.message)))
        .transpose()
}

fn json<T: DeserializeOwned>(row: &Row, column: &'static str) -> StoreResult<T> {
    let Json(value) = get::<Json<Value>>(row, column)?;
    serde_json::from_value(value).map_err(|e| corrupt(column, e.to_string()))
}

fn object(row: &Row, column: &'static str) -> StoreResult<Map<String, Value>> {
    match get::<Value>(row, column)? {
        Value::Object(map) => Ok(map),
        other => Err(corrupt(
            column,
            format!("expected a JSON object, found {other}"),
        )),
    }
}

fn corrupt(what: &'static str, detail: String) -> StoreError {
    StoreError::backend(Corrupt { what, detail })
}

fn ids<T>(row: &Row, column: &str, wrap: fn(Uuid) -> T) -> StoreResult<Vec<T>> {
    Ok(get::<Vec<Uuid>>(row, column)?
        .into_iter()
        .map(wrap)
        .collect())
}

fn time(row: &Row, column: &str) -> StoreResult<OffsetDateTime> {
    get(row, column)
}

pub(super) fn account(row: &Row) -> StoreResult<Account> {
    Ok(Account {
        id: AccountId(get(row, "id")?),
        name: parsed(row, "name", Name::parse)?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn agent(row: &Row) -> StoreResult<Agent> {
    Ok(Agent {
        id: AgentId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        email: parsed(row, "email", EmailAddress::parse)?,
        role: parsed(row, "role", AgentRole::parse)?,
        profile: AgentProfile {
            display_name: parsed(row, "display_name", Name::parse)?,
            avatar_url: parsed_opt(row, "avatar_url", WebUrl::parse)?,
            meeting_link: parsed_opt(row, "meeting_link", WebUrl::parse)?,
        },
        notification_prefs: json(row, "notification_prefs")?,
        status: parsed(row, "status", AgentStatus::parse)?,
        active: get(row, "active")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn login(row: &Row) -> StoreResult<LoginRecord> {
    Ok(LoginRecord {
        agent: agent(row)?,
        password_hash: get(row, "password_hash")?,
    })
}

/// A session joined with its agent (`token_hash, csrf_token, expires_at` + agent columns).
pub(super) fn session(row: &Row) -> StoreResult<(Session, Agent)> {
    let agent = agent(row)?;
    let session = Session {
        token_hash: get(row, "token_hash")?,
        account_id: agent.account_id,
        agent_id: agent.id,
        csrf_token: get(row, "csrf_token")?,
        expires_at: time(row, "expires_at")?,
    };
    Ok((session, agent))
}

pub(super) fn api_token(row: &Row) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: ApiTokenId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        agent_id: AgentId(get(row, "agent_id")?),
        name: parsed(row, "name", Name::parse)?,
        created_at: time(row, "created_at")?,
    })
}

/// A token joined with its agent (`token_id, token_name, token_created_at` + agent columns).
pub(super) fn api_token_with_agent(row: &Row) -> StoreResult<(ApiToken, Agent)> {
    let agent = agent(row)?;
    let token = ApiToken {
        id: ApiTokenId(get(row, "token_id")?),
        account_id: agent.account_id,
        agent_id: agent.id,
        name: parsed(row, "token_name", Name::parse)?,
        created_at: time(row, "token_created_at")?,
    };
    Ok((token, agent))
}

pub(super) fn team(row: &Row) -> StoreResult<Team> {
    Ok(Team {
        id: TeamId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        name: parsed(row, "name", Name::parse)?,
        member_ids: ids(row, "member_ids", AgentId)?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn inbox(row: &Row) -> StoreResult<Inbox> {
    Ok(Inbox {
        id: InboxId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        name: parsed(row, "name", Name::parse)?,
        routing: json(row, "routing")?,
        notification_defaults: json(row, "notification_defaults")?,
        email_filters: json(row, "email_filters")?,
        fallback_local_part: get(row, "fallback_local_part")?,
        member_ids: ids(row, "member_ids", AgentId)?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn channel(row: &Row) -> StoreResult<Channel> {
    Ok(Channel {
        id: ChannelId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        inbox_id: InboxId(get(row, "inbox_id")?),
        kind: parsed(row, "kind", ChannelKind::parse)?,
        name: parsed(row, "name", Name::parse)?,
        settings: object(row, "settings")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn chatflow(row: &Row) -> StoreResult<Chatflow> {
    Ok(Chatflow {
        id: ChatflowId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        channel_id: ChannelId(get(row, "channel_id")?),
        name: parsed(row, "name", Name::parse)?,
        kind: parsed(row, "kind", ChatflowKind::parse)?,
        priority: get(row, "priority")?,
        enabled: get(row, "enabled")?,
        targeting: get(row, "targeting")?,
        availability: get(row, "availability")?,
        branding: get(row, "branding")?,
        flow: get(row, "flow")?,
        flow_version: get(row, "flow_version")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn contact(row: &Row) -> StoreResult<Contact> {
    Ok(Contact {
        id: ContactId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        email: parsed_opt(row, "email", EmailAddress::parse)?,
        name: parsed_opt(row, "name", Name::parse)?,
        phone: parsed_opt(row, "phone", Phone::parse)?,
        properties: object(row, "properties")?,
        owner_id: get::<Option<Uuid>>(row, "owner_id")?.map(AgentId),
        external_id: parsed_opt(row, "external_id", ExternalId::parse)?,
        email_unverified: get(row, "email_unverified")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn conversation(row: &Row) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: ConversationId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        inbox_id: InboxId(get(row, "inbox_id")?),
        channel_id: ChannelId(get(row, "channel_id")?),
        contact_id: ContactId(get(row, "contact_id")?),
        status: parsed(row, "status", ConversationStatus::parse)?,
        assignee_id: get::<Option<Uuid>>(row, "assignee_id")?.map(AgentId),
        team_id: get::<Option<Uuid>>(row, "team_id")?.map(TeamId),
        subject: get(row, "subject")?,
        last_seq: get(row, "last_seq")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// How an [`Actor`] is stored: a type word and, for agents and contacts, an id.
pub(super) fn actor_columns(actor: Actor) -> (&'static str, Option<Uuid>) {
    match actor {
        Actor::Agent(id) => ("agent", Some(id.0)),
        Actor::Contact(id) => ("contact", Some(id.0)),
        Actor::Bot => ("bot", None),
        Actor::System => ("system", None),
    }
}

/// The agent behind an actor, for `events.agent_id`.
pub(super) fn actor_agent(actor: Actor) -> Option<Uuid> {
    match actor {
        Actor::Agent(id) => Some(id.0),
        _ => None,
    }
}

fn actor(row: &Row) -> StoreResult<Actor> {
    let kind: String = get(row, "author_type")?;
    let id: Option<Uuid> = get(row, "author_id")?;
    match (kind.as_str(), id) {
        ("agent", Some(id)) => Ok(Actor::Agent(AgentId(id))),
        ("contact", Some(id)) => Ok(Actor::Contact(ContactId(id))),
        ("bot", _) => Ok(Actor::Bot),
        ("system", _) => Ok(Actor::System),
        (other, id) => Err(corrupt("author", format!("{other} {id:?}"))),
    }
}

pub(super) fn item(row: &Row) -> StoreResult<TimelineItem> {
    Ok(TimelineItem {
        id: TimelineItemId(get(row, "id")?),
        conversation_id: ConversationId(get(row, "conversation_id")?),
        seq: get(row, "seq")?,
        client_id: get(row, "client_id")?,
        kind: parsed(row, "kind", ItemKind::parse)?,
        author: actor(row)?,
        direction: parsed_opt(row, "direction", Direction::parse)?,
        body: get(row, "body")?,
        mentions: ids(row, "mentions", AgentId)?,
        data: get(row, "data")?,
        delivery_status: parsed_opt(row, "delivery_status", DeliveryStatus::parse)?,
        delivery_error: get(row, "delivery_error")?,
        created_at: time(row, "created_at")?,
    })
}

pub(super) fn ticket(row: &Row) -> StoreResult<Ticket> {
    Ok(Ticket {
        id: TicketId(get(row, "id")?),
        account_id: AccountId(get(row, "account_id")?),
        inbox_id: InboxId(get(row, "inbox_id")?),
        conversation_id: get::<Option<Uuid>>(row, "conversation_id")?.map(ConversationId),
        contact_id: get::<Option<Uuid>>(row, "contact_id")?.map(ContactId),
        title: get(row, "title")?,
        stage: parsed(row, "stage", TicketStage::parse)?,
        priority: parsed(row, "priority", TicketPriority::parse)?,
        owner_id: get::<Option<Uuid>>(row, "owner_id")?.map(AgentId),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(super) fn event(row: &Row) -> StoreResult<Event> {
    Ok(Event {
        id: get(row, "id")?,
        account_id: AccountId(get(row, "account_id")?),
        kind: get(row, "kind")?,
        inbox_id: get::<Option<Uuid>>(row, "inbox_id")?.map(InboxId),
        conversation_id: get::<Option<Uuid>>(row, "conversation_id")?.map(ConversationId),
        agent_id: get::<Option<Uuid>>(row, "agent_id")?.map(AgentId),
        data: get(row, "data")?,
        occurred_at: time(row, "occurred_at")?,
    })
}
