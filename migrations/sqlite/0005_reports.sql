-- Reports read every event of the conversations active in a date range (docs/reports.md
-- "What a report reads"): the range itself by time, then each such conversation's history up
-- to the range end.
CREATE INDEX events_account_occurred_at ON events (account_id, occurred_at);
CREATE INDEX events_account_conversation ON events (account_id, conversation_id, occurred_at);
