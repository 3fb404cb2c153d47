-- Bots: where a bot is in each conversation it runs (src/bots/engine.rs `BotState`, as JSON),
-- saved in the same transaction as the messages and report facts of each turn, so a node that
-- restarts resumes the bot where it waited. See docs/store.md "Bots".
CREATE TABLE bot_runs (
    account_id      uuid        NOT NULL,
    conversation_id uuid        PRIMARY KEY,
    -- Not a foreign key: a run outlives an edited or deleted chatflow (and then ends).
    chatflow_id     uuid        NOT NULL,
    state           jsonb       NOT NULL,
    finished        boolean     NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT bot_runs_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
