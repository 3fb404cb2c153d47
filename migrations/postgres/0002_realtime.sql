-- The real-time core: visitors of chat channels, routing's view of agents, read receipts.
-- See docs/store.md "Real-time".

-- When routing or a person last assigned a conversation to the agent (round-robin picks the
-- least recently assigned). NULL: never.
ALTER TABLE agents ADD COLUMN last_assigned_at timestamptz;

CREATE TABLE visitors (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL
        CONSTRAINT visitors_account_fkey REFERENCES accounts (id),
    channel_id uuid        NOT NULL,
    contact_id uuid        NOT NULL,
    -- SHA-256 of the visitor token; the token alone finds the visitor, so unique everywhere.
    token_hash text        NOT NULL CONSTRAINT visitors_token_hash_key UNIQUE,
    created_at timestamptz NOT NULL,
    CONSTRAINT visitors_account_id_key UNIQUE (account_id, id),
    -- A channel without conversations may be deleted; its visitors go with it.
    CONSTRAINT visitors_channel_fkey FOREIGN KEY (account_id, channel_id)
        REFERENCES channels (account_id, id) ON DELETE CASCADE,
    -- merge_contacts moves visitors to the kept contact before deleting the merged one.
    CONSTRAINT visitors_contact_fkey FOREIGN KEY (account_id, contact_id)
        REFERENCES contacts (account_id, id)
);
CREATE INDEX visitors_account_contact_idx ON visitors (account_id, contact_id);

-- The last seq each reader has read in a conversation. Readers are actors: bot and system have
-- no id and are stored with the nil UUID, so the key has no NULL in it.
CREATE TABLE read_marks (
    account_id      uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    reader_type     text        NOT NULL
        CHECK (reader_type IN ('agent', 'contact', 'bot', 'system')),
    reader_id       uuid        NOT NULL,
    seq             bigint      NOT NULL CHECK (seq >= 0),
    updated_at      timestamptz NOT NULL,
    CONSTRAINT read_marks_pkey PRIMARY KEY (conversation_id, reader_type, reader_id),
    CONSTRAINT read_marks_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE
);

-- The routing queue: open, unassigned conversations of an inbox, oldest first.
CREATE INDEX conversations_waiting_idx ON conversations (account_id, inbox_id, id)
    WHERE status = 'open' AND assignee_id IS NULL;
