//! Turning PostgreSQL and pool errors into [`StoreError`]s.
//!
//! Unique and foreign-key violations are recognised by constraint name (spelled out in
//! `migrations/postgres`), so the schema itself enforces "unique email" and "a reference stays
//! in its account", and the caller still learns which input field was wrong. A lost or refused
//! connection is `Unavailable` (the node answers 503 and the client retries); anything else is
//! a `Backend` error, logged and never shown.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// A row the schema should have made impossible (an unknown enum word, a JSON of the wrong
/// shape): reported as a backend error rather than a panic.
#[derive(Debug, thiserror::Error)]
#[error("unreadable {what} in the database: {detail}")]
pub(super) struct Corrupt {
    pub what: &'static str,
    pub detail: String,
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No server answer at all: the socket broke or was never made.
            let connection_lost = e.is_closed()
                || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
            return if connection_lost {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::backend(e)
            };
        };
        let code = db.code();
        let constraint = db.constraint().unwrap_or_default();
        if *code == SqlState::UNIQUE_VIOLATION {
            return unique_violation(constraint);
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return foreign_key_violation(constraint);
        }
        if is_unavailable(code) {
            return StoreError::Unavailable(db.message().to_owned());
        }
        StoreError::backend(e)
    }
}

/// Connection exceptions (class 08), a server shutting down or starting, too many connections.
fn is_unavailable(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
}

fn conflict(field: &'static str, message: &str) -> StoreError {
    StoreError::Conflict {
        field,
        message: message.to_owned(),
    }
}

fn invalid(field: &'static str, message: &str) -> StoreError {
    StoreError::Invalid {
        field,
        message: message.to_owned(),
    }
}

fn unique_violation(constraint: &str) -> StoreError {
    match constraint {
        "agents_email_key" => conflict("email", "an agent with this email already exists"),
        "contacts_email_key" => conflict("email", "a contact with this email already exists"),
        "contacts_external_id_key" => {
            conflict("external_id", "a contact with this user id already exists")
        }
        "inboxes_fallback_local_part_key" => conflict(
            "fallback_local_part",
            "this fallback address is already taken",
        ),
        "timeline_items_client_id_key" => {
            conflict("client_id", "an item with this client id already exists")
        }
        "visitors_token_hash_key" => conflict("token_hash", "this visitor token already exists"),
        "sessions_pkey" | "api_tokens_token_hash_key" => {
            conflict("token", "this token already exists")
        }
        "team_members_pkey" | "inbox_members_pkey" => {
            conflict("member_ids", "this agent is already a member")
        }
        _ => conflict("id", "a record with this id already exists"),
    }
}

/// Foreign-key violations raised by an INSERT or UPDATE of the referencing row: the reference
/// names nothing in the caller's account. (Deletes that would orphan rows are checked before
/// deleting and report their own field.)
fn foreign_key_violation(constraint: &str) -> StoreError {
    match constraint {
        "agents_account_fkey"
        | "teams_account_fkey"
        | "inboxes_account_fkey"
        | "contacts_account_fkey"
        | "events_account_fkey"
        | "visitors_account_fkey" => StoreError::NotFound { entity: "account" },
        "team_members_agent_fkey" | "inbox_members_agent_fkey" => invalid(
            "member_ids",
            "every member must be an agent of this account",
        ),
        "team_members_team_fkey" => StoreError::NotFound { entity: "team" },
        "inbox_members_inbox_fkey" => StoreError::NotFound { entity: "inbox" },
        "timeline_items_conversation_fkey" | "read_marks_conversation_fkey" => {
            StoreError::NotFound {
                entity: "conversation",
            }
        }
        "channels_inbox_fkey" | "conversations_inbox_fkey" | "tickets_inbox_fkey" => {
            invalid("inbox_id", "no such inbox in this account")
        }
        "chatflows_channel_fkey" | "conversations_channel_fkey" | "visitors_channel_fkey" => {
            invalid("channel_id", "no such channel in this account")
        }
        "conversations_contact_fkey" | "tickets_contact_fkey" | "visitors_contact_fkey" => {
            invalid("contact_id", "no such contact in this account")
        }
        "conversations_assignee_fkey" => invalid("assignee_id", "no such agent in this account"),
        "conversations_team_fkey" => invalid("team_id", "no such team in this account"),
        "contacts_owner_fkey" | "tickets_owner_fkey" => {
            invalid("owner_id", "no such agent in this account")
        }
        "tickets_conversation_fkey" => {
            invalid("conversation_id", "no such conversation in this account")
        }
        "sessions_agent_fkey" | "api_tokens_agent_fkey" => {
            invalid("agent_id", "no such agent in this account")
        }
        _ => invalid("id", "this refers to a record that does not exist"),
    }
}
