//! What the contact, conversation, timeline and ticket routes share: list filters parsed from
//! the query string, body fields that tell "absent" from `null`, and the inbox checks that decide
//! who may see a conversation or be given work in it.
//!
//! Filters arrive as text and are parsed here, not by serde, so a bad value is answered with the
//! parameter it came from (serde's query errors do not say which parameter failed).

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::error::{ApiError, ApiResult};
use super::extract::Authenticated;
use super::state::AppState;
use crate::domain::{AgentId, AgentRole, Conversation, ConversationId, Inbox, InboxId};
use crate::store::{PageRequest, StoreError};

/// A query parameter that could not be parsed (400 `invalid_query`, naming it).
pub fn invalid_query(field: &str, message: impl Display) -> ApiError {
    ApiError::bad_request("invalid_query", format!("{field}: {message}")).with_field(field)
}

/// Parses an optional query parameter; an empty value counts as absent, as HTML forms send them.
pub fn parse_param<T, E: Display>(
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> ApiResult<Option<T>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse(s).map(Some).map_err(|e| invalid_query(field, e)),
    }
}

/// An optional id parameter (`inbox_id=…`).
pub fn id_param<T>(field: &str, raw: Option<&str>) -> ApiResult<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    parse_param(field, raw, |s| {
        s.parse::<T>()
            .map_err(|e| format!("'{s}' is not an id ({e})"))
    })
}

/// An optional `true`/`false` parameter.
pub fn bool_param(field: &str, raw: Option<&str>) -> ApiResult<Option<bool>> {
    parse_param(field, raw, |s| match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("'{other}' is not true or false")),
    })
}

/// `after` and `limit` of a keyset-paged list.
pub fn page_params(after: Option<&str>, limit: Option<&str>) -> ApiResult<PageRequest> {
    let after = id_param::<uuid::Uuid>("after", after)?;
    let limit = parse_param("limit", limit, |s| {
        s.parse::<u32>()
            .map_err(|_| format!("'{s}' is not a whole number from 1 to 200"))
    })?;
    Ok(PageRequest {
        after,
        limit: limit.unwrap_or(PageRequest::default().limit),
    })
}

/// For change fields that may be cleared: absent is `None`, `null` is `Some(None)`.
/// Use with `#[serde(default, deserialize_with = "nullable")]`; without `default` the field is
/// required but may be `null`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For change fields that may be set but not cleared: `null` is refused like any wrong type
/// instead of silently meaning "leave it". Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A conversation the caller may see: another account's is 404, one in an inbox the caller is
/// not a member of is 403.
pub async fn visible_conversation(
    state: &AppState,
    who: &Authenticated,
    id: ConversationId,
) -> ApiResult<Conversation> {
    let conversation = state.store.get_conversation(who.account(), id).await?;
    who.require_inbox(state, conversation.inbox_id).await?;
    Ok(conversation)
}

/// The inbox a list is filtered by, checked like a read of it: unknown is 404, not a member 403.
pub async fn filter_inbox(
    state: &AppState,
    who: &Authenticated,
    inbox: Option<InboxId>,
) -> ApiResult<Option<InboxId>> {
    if let Some(id) = inbox {
        state.store.get_inbox(who.account(), id).await?;
        who.require_inbox(state, id).await?;
    }
    Ok(inbox)
}

/// Checks that `agent` may be given work in `inbox` (assigned, mentioned, made owner): an active
/// agent of the account who is an admin or a member of the inbox. Refusals are 422 naming `field`.
pub async fn require_eligible(
    state: &AppState,
    who: &Authenticated,
    inbox: &Inbox,
    agent: AgentId,
    field: &str,
) -> ApiResult<()> {
    let agent = match state.store.get_agent(who.account(), agent).await {
        Ok(agent) => agent,
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid_field(
                field,
                format!("no agent {agent} in this account"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if !agent.active {
        return Err(ApiError::invalid_field(
            field,
            format!("agent {} is deactivated", agent.id),
        ));
    }
    if agent.role != AgentRole::Admin && !inbox.member_ids.contains(&agent.id) {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "agent {} is not a member of the inbox '{}'",
                agent.id, inbox.name
            ),
        ));
    }
    Ok(())
}

/// Looks up something a body refers to; missing (or another account's) is 422 naming `field`,
/// because the request, not the URL, is at fault.
pub fn referenced<T>(result: Result<T, StoreError>, field: &str) -> ApiResult<T> {
    result.map_err(|e| match e {
        StoreError::NotFound { entity } => {
            ApiError::invalid_field(field, format!("no such {entity} in this account"))
        }
        other => other.into(),
    })
}
