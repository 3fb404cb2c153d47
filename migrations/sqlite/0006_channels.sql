-- Channels (issue 6): the outbox that sends replies out exactly once across nodes, email
-- threading headers, the IMAP position of each email channel, mail kept out of the inbox
-- (failed imports, filtered mail) for admins to review, and Messenger event ids for
-- de-duplication. See docs/channels.md. Times are unix microseconds as elsewhere.

-- One row per outbound message to deliver (email or Messenger), written in the same
-- transaction as the message. A worker claims due rows inside a write transaction (SQLite has
-- one writer), sets a lease (`claimed_until`), sends, and records the outcome.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    item_id         TEXT NOT NULL UNIQUE REFERENCES timeline_items (id) ON DELETE CASCADE,
    channel_id      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'messenger')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_error      TEXT,
    remote_id       TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id)
        ON DELETE CASCADE
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE email_messages (
    item_id         TEXT PRIMARY KEY NOT NULL REFERENCES timeline_items (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    message_id      TEXT NOT NULL,
    in_reply_to     TEXT,
    -- JSON array of message ids, oldest first.
    refs            TEXT NOT NULL DEFAULT '[]',
    subject         TEXT,
    from_address    TEXT,
    raw             BLOB,
    html            TEXT,
    created_at      INTEGER NOT NULL,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id)
        ON DELETE CASCADE
);
CREATE UNIQUE INDEX email_messages_message_id_idx ON email_messages (account_id, message_id);
CREATE INDEX email_messages_conversation_idx ON email_messages (conversation_id);

CREATE TABLE email_attachments (
    id           TEXT PRIMARY KEY NOT NULL,
    item_id      TEXT NOT NULL REFERENCES email_messages (item_id) ON DELETE CASCADE,
    filename     TEXT,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL
);
CREATE INDEX email_attachments_item_idx ON email_attachments (item_id);

CREATE TABLE imap_state (
    channel_id  TEXT PRIMARY KEY NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    mailbox     TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE mail_held (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL,
    inbox_id     TEXT NOT NULL,
    channel_id   TEXT,
    reason       TEXT NOT NULL CHECK (reason IN ('failed', 'blocked', 'auto_reply', 'bounce')),
    detail       TEXT NOT NULL,
    from_address TEXT,
    subject      TEXT,
    message_id   TEXT,
    raw          BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX mail_held_inbox_idx ON mail_held (account_id, inbox_id, created_at);

CREATE TABLE messenger_events (
    account_id TEXT NOT NULL,
    mid        TEXT NOT NULL,
    item_id    TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, mid)
);
