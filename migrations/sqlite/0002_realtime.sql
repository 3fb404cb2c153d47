-- The real-time core: visitors of chat channels, routing's view of agents, read receipts.
-- See docs/store.md "Real-time".

-- When routing or a person last assigned a conversation to the agent (round-robin picks the
-- least recently assigned), unix microseconds. NULL: never.
ALTER TABLE agents ADD COLUMN last_assigned_at INTEGER;

CREATE TABLE visitors (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    channel_id  TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    -- SHA-256 of the visitor token; the token alone finds the visitor, so unique everywhere.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, id),
    -- A channel without conversations may be deleted; its visitors go with it.
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE,
    -- merge_contacts moves visitors to the kept contact before deleting the merged one.
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id)
);
CREATE INDEX visitors_contact ON visitors (account_id, contact_id);

-- The last seq each reader has read in a conversation. Readers are actors: bot and system have
-- no id and are stored with the nil UUID, so the key has no NULL in it.
CREATE TABLE read_marks (
    account_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    reader_type      TEXT NOT NULL CHECK (reader_type IN ('agent', 'contact', 'bot', 'system')),
    reader_id        TEXT NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq >= 0),
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, reader_type, reader_id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id)
        ON DELETE CASCADE
) WITHOUT ROWID;

-- The routing queue: open, unassigned conversations of an inbox, oldest first.
CREATE INDEX conversations_waiting ON conversations (account_id, inbox_id, id)
    WHERE status = 'open' AND assignee_id IS NULL;
