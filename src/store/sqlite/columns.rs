//! How domain values sit in SQLite columns (docs/store.md "Representation"): ids as lower-case
//! hyphenated TEXT, validated strings and words as TEXT (parsed again when read, so a bad row
//! is an error rather than a bad value in memory), timestamps as INTEGER unix microseconds,
//! JSON as TEXT.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::*;

fn other(e: impl std::error::Error + Send + Sync + 'static) -> FromSqlError {
    FromSqlError::Other(Box::new(e))
}

fn uuid_from(value: ValueRef<'_>) -> FromSqlResult<Uuid> {
    Uuid::parse_str(value.as_str()?).map_err(other)
}

fn uuid_to(id: &Uuid) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(Value::Text(id.hyphenated().to_string()))
}

macro_rules! uuid_columns {
    ($($name:ty),* $(,)?) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(uuid_to(&self.0))
            }
        }
        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                uuid_from(value).map(Self)
            }
        }
    )*};
}

uuid_columns!(
    AccountId,
    AgentId,
    TeamId,
    InboxId,
    ChannelId,
    ChatflowId,
    ContactId,
    ConversationId,
    TimelineItemId,
    TicketId,
    ApiTokenId,
    VisitorId,
    SqlUuid,
);

/// A bare UUID column (client ids, paging cursors).
#[derive(Debug, Clone, Copy)]
pub(super) struct SqlUuid(pub Uuid);

macro_rules! text_columns {
    ($($name:ty),* $(,)?) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.as_str().as_bytes())))
            }
        }
        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                <$name>::parse(value.as_str()?).map_err(other)
            }
        }
    )*};
}

text_columns!(
    Name,
    EmailAddress,
    Phone,
    ExternalId,
    WebUrl,
    Body,
    AgentRole,
    AgentStatus,
    ChannelKind,
    ChatflowKind,
    ConversationStatus,
    ItemKind,
    Direction,
    DeliveryStatus,
    TicketStage,
    TicketPriority,
);

/// A timestamp column: unix microseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ts(pub OffsetDateTime);

impl ToSql for Ts {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let micros = i64::try_from(self.0.unix_timestamp_nanos() / 1000)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::Owned(Value::Integer(micros)))
    }
}

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let micros = value.as_i64()?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .map(Ts)
            .map_err(other)
    }
}

/// `t` as the store keeps it: microsecond precision, so a record returned by a write equals the
/// same record read back.
pub(super) fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

pub(super) fn now() -> OffsetDateTime {
    truncate(OffsetDateTime::now_utc())
}

/// A JSON column.
#[derive(Debug, Clone)]
pub(super) struct Json<T>(pub T);

impl<T: Serialize> ToSql for Json<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let text = serde_json::to_string(&self.0)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::Owned(Value::Text(text)))
    }
}

impl<T: DeserializeOwned> FromSql for Json<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(Json)
            .map_err(other)
    }
}

/// A timeline author as two columns: `author_type` and `author_id`.
pub(super) fn actor_columns(actor: Actor) -> (&'static str, Option<SqlUuid>) {
    match actor {
        Actor::Agent(id) => ("agent", Some(SqlUuid(id.0))),
        Actor::Contact(id) => ("contact", Some(SqlUuid(id.0))),
        Actor::Bot => ("bot", None),
        Actor::System => ("system", None),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("timeline author '{0}' with id {1:?} is not an actor")]
struct BadActor(String, Option<Uuid>);

pub(super) fn actor_from(kind: &str, id: Option<SqlUuid>) -> rusqlite::Result<Actor> {
    let id = id.map(|u| u.0);
    match (kind, id) {
        ("agent", Some(id)) => Ok(Actor::Agent(AgentId(id))),
        ("contact", Some(id)) => Ok(Actor::Contact(ContactId(id))),
        ("bot", None) => Ok(Actor::Bot),
        ("system", None) => Ok(Actor::System),
        _ => Err(rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(BadActor(kind.to_owned(), id)),
        )),
    }
}
