//! Column lists shared by the queries that read a record and the decoder in `rows` that reads
//! them back by name. Macros rather than constants so `concat!` builds each query as one
//! `&'static str`, which is what the prepared-statement cache is keyed by.

macro_rules! account_columns {
    () => {
        "id, name, created_at"
    };
}

macro_rules! agent_columns {
    () => {
        "id, account_id, email, role, display_name, avatar_url, meeting_link, \
         notification_prefs, status, active, created_at"
    };
}

/// The agent columns of `agents a`, for joins.
macro_rules! agent_columns_a {
    () => {
        "a.id, a.account_id, a.email, a.role, a.display_name, a.avatar_url, a.meeting_link, \
         a.notification_prefs, a.status, a.active, a.created_at"
    };
}

macro_rules! api_token_columns {
    () => {
        "id, account_id, agent_id, name, created_at"
    };
}

macro_rules! team_columns {
    () => {
        "id, account_id, name, created_at, \
         ARRAY(SELECT m.agent_id FROM team_members m WHERE m.team_id = teams.id \
               ORDER BY m.agent_id) AS member_ids"
    };
}

macro_rules! inbox_columns {
    () => {
        "id, account_id, name, routing, notification_defaults, email_filters, \
         fallback_local_part, created_at, \
         ARRAY(SELECT m.agent_id FROM inbox_members m WHERE m.inbox_id = inboxes.id \
               ORDER BY m.agent_id) AS member_ids"
    };
}

macro_rules! channel_columns {
    () => {
        "id, account_id, inbox_id, kind, name, settings, created_at"
    };
}

macro_rules! chatflow_columns {
    () => {
        "id, account_id, channel_id, name, kind, priority, enabled, targeting, availability, \
         branding, flow, flow_version, created_at"
    };
}

macro_rules! contact_columns {
    () => {
        "id, account_id, email, name, phone, properties, owner_id, external_id, \
         email_unverified, created_at, updated_at"
    };
}

macro_rules! conversation_columns {
    () => {
        "id, account_id, inbox_id, channel_id, contact_id, status, assignee_id, team_id, \
         subject, last_seq, created_at, updated_at"
    };
}

macro_rules! item_columns {
    () => {
        "id, conversation_id, seq, client_id, kind, author_type, author_id, direction, body, \
         mentions, data, delivery_status, delivery_error, created_at"
    };
}

macro_rules! ticket_columns {
    () => {
        "id, account_id, inbox_id, conversation_id, contact_id, title, stage, priority, \
         owner_id, created_at, updated_at"
    };
}

macro_rules! event_columns {
    () => {
        "id, account_id, kind, inbox_id, conversation_id, agent_id, data, occurred_at"
    };
}
