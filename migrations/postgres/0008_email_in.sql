-- Email in (issue 6, emailin): the full plain text of inbound mail (the message item holds the
-- part without quoted history), and a lease per email channel so that one node at a time
-- imports its mailbox.

ALTER TABLE email_messages ADD COLUMN text text;

-- The node importing a channel's IMAP mailbox, until `expires_at`; another node takes over
-- once the lease runs out (the holder renews it while it works).
CREATE TABLE imap_leases (
    channel_id uuid        PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    holder     uuid        NOT NULL,
    expires_at timestamptz NOT NULL
);
