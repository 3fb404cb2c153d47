-- Parley's PostgreSQL schema, version 1.
--
-- Tenant isolation is enforced by the schema as well as by the queries: every account-scoped
-- table has UNIQUE (account_id, id), and every reference to another account-scoped row is a
-- composite foreign key (account_id, x_id), so a row can never point into another account.
-- Constraint names are spelled out because the store maps violations to the input field by name.

CREATE TABLE accounts (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE agents (
    id                 uuid        PRIMARY KEY,
    account_id         uuid        NOT NULL
        CONSTRAINT agents_account_fkey REFERENCES accounts (id),
    -- Login is by email alone, so emails are unique across accounts.
    email              text        NOT NULL CONSTRAINT agents_email_key UNIQUE,
    role               text        NOT NULL CHECK (role IN ('admin', 'agent')),
    display_name       text        NOT NULL,
    avatar_url         text,
    meeting_link       text,
    notification_prefs jsonb       NOT NULL,
    status             text        NOT NULL CHECK (status IN ('available', 'away')),
    active             boolean     NOT NULL DEFAULT true,
    password_hash      text        NOT NULL,
    created_at         timestamptz NOT NULL,
    CONSTRAINT agents_account_id_key UNIQUE (account_id, id)
);

CREATE TABLE sessions (
    token_hash text        PRIMARY KEY,
    account_id uuid        NOT NULL,
    agent_id   uuid        NOT NULL,
    csrf_token text        NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_agent_fkey FOREIGN KEY (account_id, agent_id)
        REFERENCES agents (account_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_account_agent_idx ON sessions (account_id, agent_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL,
    agent_id   uuid        NOT NULL,
    name       text        NOT NULL,
    token_hash text        NOT NULL CONSTRAINT api_tokens_token_hash_key UNIQUE,
    created_at timestamptz NOT NULL,
    CONSTRAINT api_tokens_agent_fkey FOREIGN KEY (account_id, agent_id)
        REFERENCES agents (account_id, id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_account_agent_idx ON api_tokens (account_id, agent_id, id);

CREATE TABLE teams (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL
        CONSTRAINT teams_account_fkey REFERENCES accounts (id),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT teams_account_id_key UNIQUE (account_id, id)
);

CREATE TABLE team_members (
    account_id uuid NOT NULL,
    team_id    uuid NOT NULL,
    agent_id   uuid NOT NULL,
    PRIMARY KEY (team_id, agent_id),
    CONSTRAINT team_members_team_fkey FOREIGN KEY (account_id, team_id)
        REFERENCES teams (account_id, id) ON DELETE CASCADE,
    CONSTRAINT team_members_agent_fkey FOREIGN KEY (account_id, agent_id)
        REFERENCES agents (account_id, id)
);
CREATE INDEX team_members_account_agent_idx ON team_members (account_id, agent_id);

CREATE TABLE inboxes (
    id                    uuid        PRIMARY KEY,
    account_id            uuid        NOT NULL
        CONSTRAINT inboxes_account_fkey REFERENCES accounts (id),
    name                  text        NOT NULL,
    routing               jsonb       NOT NULL,
    notification_defaults jsonb       NOT NULL,
    email_filters         jsonb       NOT NULL,
    -- Addresses on the shared inbound SMTP listener, so unique across accounts.
    fallback_local_part   text        NOT NULL
        CONSTRAINT inboxes_fallback_local_part_key UNIQUE,
    created_at            timestamptz NOT NULL,
    CONSTRAINT inboxes_account_id_key UNIQUE (account_id, id)
);

CREATE TABLE inbox_members (
    account_id uuid NOT NULL,
    inbox_id   uuid NOT NULL,
    agent_id   uuid NOT NULL,
    PRIMARY KEY (inbox_id, agent_id),
    CONSTRAINT inbox_members_inbox_fkey FOREIGN KEY (account_id, inbox_id)
        REFERENCES inboxes (account_id, id) ON DELETE CASCADE,
    CONSTRAINT inbox_members_agent_fkey FOREIGN KEY (account_id, agent_id)
        REFERENCES agents (account_id, id)
);
-- list_inboxes(member) and the inbox checks on every request.
CREATE INDEX inbox_members_account_agent_idx ON inbox_members (account_id, agent_id, inbox_id);

CREATE TABLE channels (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL,
    inbox_id   uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('chat', 'email', 'messenger', 'form')),
    name       text        NOT NULL,
    settings   jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT channels_account_id_key UNIQUE (account_id, id),
    -- No cascade: an inbox with channels cannot be deleted.
    CONSTRAINT channels_inbox_fkey FOREIGN KEY (account_id, inbox_id)
        REFERENCES inboxes (account_id, id)
);
CREATE INDEX channels_account_inbox_idx ON channels (account_id, inbox_id, id);

CREATE TABLE chatflows (
    id           uuid        PRIMARY KEY,
    account_id   uuid        NOT NULL,
    channel_id   uuid        NOT NULL,
    name         text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('live_chat', 'bot')),
    priority     integer     NOT NULL,
    enabled      boolean     NOT NULL,
    targeting    jsonb       NOT NULL,
    availability jsonb       NOT NULL,
    branding     jsonb       NOT NULL,
    flow         jsonb,
    flow_version integer     NOT NULL,
    created_at   timestamptz NOT NULL,
    -- A channel's chatflows go with it.
    CONSTRAINT chatflows_channel_fkey FOREIGN KEY (account_id, channel_id)
        REFERENCES channels (account_id, id) ON DELETE CASCADE
);
CREATE INDEX chatflows_account_channel_idx ON chatflows (account_id, channel_id, priority, id);

CREATE TABLE contacts (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL
        CONSTRAINT contacts_account_fkey REFERENCES accounts (id),
    email      text,
    name       text,
    phone      text,
    properties jsonb       NOT NULL,
    owner_id   uuid,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT contacts_account_id_key UNIQUE (account_id, id),
    -- Several contacts without an email are fine: NULLs are distinct.
    CONSTRAINT contacts_email_key UNIQUE (account_id, email),
    CONSTRAINT contacts_owner_fkey FOREIGN KEY (account_id, owner_id)
        REFERENCES agents (account_id, id)
);
CREATE INDEX contacts_account_owner_idx ON contacts (account_id, owner_id);

CREATE TABLE conversations (
    id          uuid        PRIMARY KEY,
    account_id  uuid        NOT NULL,
    inbox_id    uuid        NOT NULL,
    channel_id  uuid        NOT NULL,
    contact_id  uuid        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    assignee_id uuid,
    team_id     uuid,
    subject     text,
    last_seq    bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT conversations_account_id_key UNIQUE (account_id, id),
    CONSTRAINT conversations_inbox_fkey FOREIGN KEY (account_id, inbox_id)
        REFERENCES inboxes (account_id, id),
    CONSTRAINT conversations_channel_fkey FOREIGN KEY (account_id, channel_id)
        REFERENCES channels (account_id, id),
    CONSTRAINT conversations_contact_fkey FOREIGN KEY (account_id, contact_id)
        REFERENCES contacts (account_id, id),
    CONSTRAINT conversations_assignee_fkey FOREIGN KEY (account_id, assignee_id)
        REFERENCES agents (account_id, id),
    CONSTRAINT conversations_team_fkey FOREIGN KEY (account_id, team_id)
        REFERENCES teams (account_id, id)
);
-- List filters, each followed by id for the newest-first keyset.
CREATE INDEX conversations_account_inbox_idx ON conversations (account_id, inbox_id, id);
CREATE INDEX conversations_account_status_idx ON conversations (account_id, status, id);
CREATE INDEX conversations_account_assignee_idx ON conversations (account_id, assignee_id, id);
CREATE INDEX conversations_account_team_idx ON conversations (account_id, team_id, id);
CREATE INDEX conversations_account_channel_idx ON conversations (account_id, channel_id, id);
CREATE INDEX conversations_account_contact_idx ON conversations (account_id, contact_id, id);

CREATE TABLE timeline_items (
    id              uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    seq             bigint      NOT NULL CHECK (seq > 0),
    client_id       uuid,
    kind            text        NOT NULL CHECK (kind IN ('message', 'comment', 'event')),
    author_type     text        NOT NULL CHECK (author_type IN ('agent', 'contact', 'bot', 'system')),
    -- No foreign key: a merged contact's old items keep their author.
    author_id       uuid,
    direction       text        CHECK (direction IN ('in', 'out')),
    body            text,
    mentions        uuid[]      NOT NULL DEFAULT '{}',
    data            jsonb,
    delivery_status text        CHECK (delivery_status IN ('pending', 'sent', 'failed')),
    delivery_error  text,
    created_at      timestamptz NOT NULL,
    CONSTRAINT timeline_items_seq_key UNIQUE (conversation_id, seq),
    CONSTRAINT timeline_items_client_id_key UNIQUE (conversation_id, client_id),
    CONSTRAINT timeline_items_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id)
);

CREATE TABLE tickets (
    id              uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL,
    inbox_id        uuid        NOT NULL,
    conversation_id uuid,
    contact_id      uuid,
    title           text        NOT NULL,
    stage           text        NOT NULL
        CHECK (stage IN ('new', 'waiting_on_contact', 'waiting_on_us', 'closed')),
    priority        text        NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    owner_id        uuid,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT tickets_account_id_key UNIQUE (account_id, id),
    CONSTRAINT tickets_inbox_fkey FOREIGN KEY (account_id, inbox_id)
        REFERENCES inboxes (account_id, id),
    CONSTRAINT tickets_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id),
    CONSTRAINT tickets_contact_fkey FOREIGN KEY (account_id, contact_id)
        REFERENCES contacts (account_id, id),
    CONSTRAINT tickets_owner_fkey FOREIGN KEY (account_id, owner_id)
        REFERENCES agents (account_id, id)
);
CREATE INDEX tickets_account_inbox_idx ON tickets (account_id, inbox_id, id);
CREATE INDEX tickets_account_stage_idx ON tickets (account_id, stage, id);
CREATE INDEX tickets_account_owner_idx ON tickets (account_id, owner_id, id);
CREATE INDEX tickets_account_contact_idx ON tickets (account_id, contact_id, id);
CREATE INDEX tickets_account_conversation_idx ON tickets (account_id, conversation_id, id);

-- Facts for reports. No foreign keys besides the account: events outlive what they mention,
-- and nothing may ever rewrite one (an ON DELETE SET NULL would be an UPDATE).
CREATE TABLE events (
    id              bigserial   PRIMARY KEY,
    account_id      uuid        NOT NULL
        CONSTRAINT events_account_fkey REFERENCES accounts (id),
    kind            text        NOT NULL,
    inbox_id        uuid,
    conversation_id uuid,
    agent_id        uuid,
    data            jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX events_account_id_idx ON events (account_id, id);
CREATE INDEX events_account_occurred_at_idx ON events (account_id, occurred_at);

CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
