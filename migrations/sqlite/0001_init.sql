-- Parley schema, SQLite flavour (see docs/store.md "Representation").
-- Ids: TEXT, lower-case hyphenated UUIDv7. Timestamps: INTEGER unix microseconds.
-- JSON: TEXT. Booleans: INTEGER 0/1.
--
-- Every account-scoped table has UNIQUE (account_id, id), and references between them are
-- composite foreign keys on (account_id, id): a row can never point at another account's row,
-- whatever the code does. The same index serves "WHERE account_id = ? ORDER BY id".

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE agents (
    id                  TEXT PRIMARY KEY NOT NULL,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    -- Unique across accounts: login is by email alone.
    email               TEXT NOT NULL UNIQUE,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    display_name        TEXT NOT NULL,
    avatar_url          TEXT,
    meeting_link        TEXT,
    notification_prefs  TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('available', 'away')),
    active              INTEGER NOT NULL CHECK (active IN (0, 1)),
    -- argon2id PHC string.
    password_hash       TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    UNIQUE (account_id, id)
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_agent ON sessions (account_id, agent_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_agent ON api_tokens (account_id, agent_id, id);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, id)
);

CREATE TABLE team_members (
    account_id  TEXT NOT NULL,
    team_id     TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    PRIMARY KEY (team_id, agent_id),
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX team_members_agent ON team_members (account_id, agent_id);

CREATE TABLE inboxes (
    id                     TEXT PRIMARY KEY NOT NULL,
    account_id             TEXT NOT NULL REFERENCES accounts (id),
    name                   TEXT NOT NULL,
    routing                TEXT NOT NULL,
    notification_defaults  TEXT NOT NULL,
    email_filters          TEXT NOT NULL,
    -- Addresses on Parley's own SMTP listener are global, so unique across accounts.
    fallback_local_part    TEXT NOT NULL UNIQUE,
    created_at             INTEGER NOT NULL,
    UNIQUE (account_id, id)
);

CREATE TABLE inbox_members (
    account_id  TEXT NOT NULL,
    inbox_id    TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    PRIMARY KEY (inbox_id, agent_id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, agent_id) REFERENCES agents (account_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX inbox_members_agent ON inbox_members (account_id, agent_id);

CREATE TABLE channels (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL,
    inbox_id    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('chat', 'email', 'messenger', 'form')),
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id)
);
CREATE INDEX channels_inbox ON channels (account_id, inbox_id, id);

CREATE TABLE chatflows (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('live_chat', 'bot')),
    priority      INTEGER NOT NULL,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    targeting     TEXT NOT NULL,
    availability  TEXT NOT NULL,
    branding      TEXT NOT NULL,
    flow          TEXT,
    flow_version  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (account_id, id),
    -- A channel's chatflows go with it.
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);
CREATE INDEX chatflows_channel ON chatflows (account_id, channel_id, priority, id);

CREATE TABLE contacts (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    email        TEXT,
    name         TEXT,
    -- `name` lower-cased by Parley (full Unicode, which SQLite's lower() is not), for search.
    name_folded  TEXT,
    phone        TEXT,
    properties   TEXT NOT NULL,
    owner_id     TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (account_id, id),
    -- Several contacts without email are fine: NULLs are distinct in a UNIQUE constraint.
    UNIQUE (account_id, email),
    FOREIGN KEY (account_id, owner_id) REFERENCES agents (account_id, id)
);

CREATE TABLE conversations (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL,
    inbox_id     TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
    assignee_id  TEXT,
    team_id      TEXT,
    subject      TEXT,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id),
    FOREIGN KEY (account_id, assignee_id) REFERENCES agents (account_id, id),
    FOREIGN KEY (account_id, team_id) REFERENCES teams (account_id, id)
);
CREATE INDEX conversations_inbox ON conversations (account_id, inbox_id, id);
CREATE INDEX conversations_channel ON conversations (account_id, channel_id, id);
CREATE INDEX conversations_contact ON conversations (account_id, contact_id, id);
CREATE INDEX conversations_assignee ON conversations (account_id, assignee_id, id);
CREATE INDEX conversations_team ON conversations (account_id, team_id, id);
CREATE INDEX conversations_status ON conversations (account_id, status, id);

CREATE TABLE timeline_items (
    id               TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq > 0),
    client_id        TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('message', 'comment', 'event')),
    author_type      TEXT NOT NULL CHECK (author_type IN ('agent', 'contact', 'bot', 'system')),
    author_id        TEXT,
    direction        TEXT CHECK (direction IN ('in', 'out')),
    body             TEXT,
    -- JSON array of agent ids.
    mentions         TEXT NOT NULL DEFAULT '[]',
    data             TEXT,
    delivery_status  TEXT CHECK (delivery_status IN ('pending', 'sent', 'failed')),
    delivery_error   TEXT,
    created_at       INTEGER NOT NULL,
    UNIQUE (conversation_id, seq),
    -- The idempotency key of writers; NULLs (no key) never collide.
    UNIQUE (conversation_id, client_id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id)
);

CREATE TABLE tickets (
    id               TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL,
    inbox_id         TEXT NOT NULL,
    conversation_id  TEXT,
    contact_id       TEXT,
    title            TEXT NOT NULL,
    stage            TEXT NOT NULL
        CHECK (stage IN ('new', 'waiting_on_contact', 'waiting_on_us', 'closed')),
    priority         TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    owner_id         TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (account_id, id),
    FOREIGN KEY (account_id, inbox_id) REFERENCES inboxes (account_id, id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id),
    FOREIGN KEY (account_id, owner_id) REFERENCES agents (account_id, id)
);
CREATE INDEX tickets_inbox ON tickets (account_id, inbox_id, id);
CREATE INDEX tickets_conversation ON tickets (account_id, conversation_id, id);
CREATE INDEX tickets_contact ON tickets (account_id, contact_id, id);
CREATE INDEX tickets_owner ON tickets (account_id, owner_id, id);
CREATE INDEX tickets_stage ON tickets (account_id, stage, id);

-- Facts for reports. The ids they name are not foreign keys: a fact outlives the rows it
-- mentions, and a cascade would have to change it.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    kind             TEXT NOT NULL,
    inbox_id         TEXT,
    conversation_id  TEXT,
    agent_id         TEXT,
    data             TEXT NOT NULL,
    occurred_at      INTEGER NOT NULL
);
CREATE INDEX events_account ON events (account_id, id);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is refused');
END;
