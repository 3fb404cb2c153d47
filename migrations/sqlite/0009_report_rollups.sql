-- Report rollups (docs/reports.md "Rollups"); see migrations/postgres/0009_report_rollups.sql.
CREATE TABLE report_marks (
    conversation_id TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL,
    written         INTEGER NOT NULL,
    settled         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE report_dirty (
    conversation_id TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL
);

CREATE TABLE report_rollups (
    conversation_id TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL,
    inbox_id        TEXT,
    first_at        INTEGER,
    last_at         INTEGER,
    facts           BLOB    NOT NULL
);
CREATE INDEX report_rollups_account_last_at ON report_rollups (account_id, last_at);

CREATE TRIGGER events_report_marks AFTER INSERT ON events
WHEN NEW.conversation_id IS NOT NULL AND NEW.kind IN (
    'conversation.created', 'conversation.assigned', 'conversation.status_changed',
    'message.received', 'message.sent', 'bot.step', 'bot.finished')
BEGIN
    INSERT OR IGNORE INTO report_marks (conversation_id, account_id, written)
    VALUES (NEW.conversation_id, NEW.account_id, 0);
    UPDATE report_marks SET written = written + 1 WHERE conversation_id = NEW.conversation_id;
    INSERT OR IGNORE INTO report_dirty (conversation_id, account_id)
    VALUES (NEW.conversation_id, NEW.account_id);
END;

INSERT INTO report_marks (conversation_id, account_id, written)
SELECT conversation_id, account_id, count(*)
FROM events
WHERE conversation_id IS NOT NULL AND kind IN (
    'conversation.created', 'conversation.assigned', 'conversation.status_changed',
    'message.received', 'message.sent', 'bot.step', 'bot.finished')
GROUP BY conversation_id, account_id;
INSERT INTO report_dirty (conversation_id, account_id)
SELECT conversation_id, account_id FROM report_marks;
