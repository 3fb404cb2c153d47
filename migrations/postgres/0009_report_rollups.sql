-- Report rollups (docs/reports.md "Rollups"): each conversation's report facts, derived from its
-- events by src/reports/facts.rs and recomputed only when it gets new report events, so a
-- report reads one row per conversation instead of replaying every event.
--
-- report_marks counts the report events written for each conversation (`written`, bumped by
-- the trigger below in the same transaction as the event, so no event can be missed) and the
-- count its rollup was computed at (`settled`). `written` is in no index and the table leaves
-- room in its pages, so the bump is a HOT update.
CREATE TABLE report_marks (
    conversation_id uuid   PRIMARY KEY,
    account_id      uuid   NOT NULL,
    written         bigint NOT NULL,
    settled         bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

-- The conversations whose rollup may be behind: a row is added with the first unsettled event
-- (ON CONFLICT DO NOTHING: no write when it is already there) and removed by the settle that
-- catches up, so finding what to settle costs what is pending, not every conversation.
CREATE TABLE report_dirty (
    conversation_id uuid PRIMARY KEY,
    account_id      uuid NOT NULL
);

CREATE TABLE report_rollups (
    conversation_id uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL,
    inbox_id        uuid,
    first_at        timestamptz,
    last_at         timestamptz,
    facts           bytea       NOT NULL
);
-- A range's conversations: those whose events span it (last_at >= start, first_at < end).
CREATE INDEX report_rollups_account_last_at_idx ON report_rollups (account_id, last_at);

CREATE FUNCTION events_mark_report() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_marks (conversation_id, account_id, written)
    VALUES (NEW.conversation_id, NEW.account_id, 1)
    ON CONFLICT (conversation_id) DO UPDATE SET written = report_marks.written + 1;
    INSERT INTO report_dirty (conversation_id, account_id)
    VALUES (NEW.conversation_id, NEW.account_id)
    ON CONFLICT (conversation_id) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_report_marks
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.conversation_id IS NOT NULL AND NEW.kind IN (
        'conversation.created', 'conversation.assigned', 'conversation.status_changed',
        'message.received', 'message.sent', 'bot.step', 'bot.finished'))
    EXECUTE FUNCTION events_mark_report();

-- Conversations that already have events get their rollups at the first report or settle.
INSERT INTO report_marks (conversation_id, account_id, written)
SELECT conversation_id, account_id, count(*)
FROM events
WHERE conversation_id IS NOT NULL AND kind IN (
    'conversation.created', 'conversation.assigned', 'conversation.status_changed',
    'message.received', 'message.sent', 'bot.step', 'bot.finished')
GROUP BY conversation_id, account_id;
INSERT INTO report_dirty (conversation_id, account_id)
SELECT conversation_id, account_id FROM report_marks;
