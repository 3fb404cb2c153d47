-- Bots: where a bot is in each conversation it runs (src/bots/engine.rs `BotState`, as JSON),
-- saved in the same transaction as the messages and report facts of each turn, so a node that
-- restarts resumes the bot where it waited. See docs/store.md "Bots".
CREATE TABLE bot_runs (
    account_id       TEXT NOT NULL,
    conversation_id  TEXT PRIMARY KEY NOT NULL,
    -- Not a foreign key: a run outlives an edited or deleted chatflow (and then ends).
    chatflow_id      TEXT NOT NULL,
    state            TEXT NOT NULL,
    finished         INTEGER NOT NULL CHECK (finished IN (0, 1)),
    updated_at       INTEGER NOT NULL,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id)
        ON DELETE CASCADE
);
