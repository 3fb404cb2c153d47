-- Reports read every event of the conversations active in a date range (docs/reports.md
-- "What a report reads"): the range itself by time (events_account_occurred_at_idx, from
-- 0001), then each such conversation's history up to the range end by this index.
CREATE INDEX events_account_conversation_idx
    ON events (account_id, conversation_id, occurred_at);
