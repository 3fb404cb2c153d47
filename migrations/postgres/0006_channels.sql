-- Channels (issue 6): the outbox that sends replies out exactly once across nodes, email
-- threading headers, the IMAP position of each email channel, mail kept out of the inbox
-- (failed imports, filtered mail) for admins to review, and Messenger event ids for
-- de-duplication. See docs/channels.md.

-- One row per outbound message to deliver (email or Messenger), written in the same
-- transaction as the message. A worker claims due rows (`FOR UPDATE SKIP LOCKED`), sets a lease
-- (`claimed_until`), sends, and records the outcome here and on the message's delivery status.
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    account_id      uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    item_id         uuid        NOT NULL UNIQUE REFERENCES timeline_items (id) ON DELETE CASCADE,
    channel_id      uuid        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('email', 'messenger')),
    status          text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- Set while a worker sends; a row whose lease ran out (its node died) is claimed again.
    claimed_until   timestamptz,
    last_error      text,
    -- What the far side answered: the SMTP Message-ID or the Messenger message id.
    remote_id       text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT outbox_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';

-- Email headers of every email message in a conversation, both directions, for threading.
CREATE TABLE email_messages (
    item_id         uuid        PRIMARY KEY REFERENCES timeline_items (id) ON DELETE CASCADE,
    account_id      uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    direction       text        NOT NULL CHECK (direction IN ('in', 'out')),
    -- Without angle brackets.
    message_id      text        NOT NULL,
    in_reply_to     text,
    -- Message ids, oldest first, without angle brackets.
    refs            jsonb       NOT NULL DEFAULT '[]',
    subject         text,
    from_address    text,
    -- Inbound only: the message as received, and its sanitized HTML part for display.
    raw             bytea,
    html            text,
    created_at      timestamptz NOT NULL,
    CONSTRAINT email_messages_conversation_fkey FOREIGN KEY (account_id, conversation_id)
        REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX email_messages_message_id_idx ON email_messages (account_id, message_id);
CREATE INDEX email_messages_conversation_idx ON email_messages (conversation_id);

-- Attachments of inbound mail, within the configured size limits.
CREATE TABLE email_attachments (
    id           uuid    PRIMARY KEY,
    item_id      uuid    NOT NULL REFERENCES email_messages (item_id) ON DELETE CASCADE,
    filename     text,
    content_type text    NOT NULL,
    size         integer NOT NULL,
    content      bytea   NOT NULL
);
CREATE INDEX email_attachments_item_idx ON email_attachments (item_id);

-- Where each email channel's IMAP import stands: a changed UIDVALIDITY starts over (de-duplicated
-- by Message-ID), otherwise import resumes after `last_uid`.
CREATE TABLE imap_state (
    channel_id  uuid        PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    mailbox     text        NOT NULL,
    uidvalidity bigint      NOT NULL,
    last_uid    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Mail kept out of the inbox: a message that could not be imported (with the reason), or one a
-- filter stopped (blocked sender or domain, auto-reply, bounce). Reviewable by admins.
CREATE TABLE mail_held (
    id          uuid        PRIMARY KEY,
    account_id  uuid        NOT NULL,
    inbox_id    uuid        NOT NULL,
    channel_id  uuid,
    reason      text        NOT NULL CHECK (reason IN ('failed', 'blocked', 'auto_reply', 'bounce')),
    detail      text        NOT NULL,
    from_address text,
    subject     text,
    message_id  text,
    raw         bytea       NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX mail_held_inbox_idx ON mail_held (account_id, inbox_id, created_at);

-- Messenger events already stored (a redelivered `mid` is stored once).
CREATE TABLE messenger_events (
    account_id uuid        NOT NULL,
    mid        text        NOT NULL,
    item_id    uuid,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, mid)
);
