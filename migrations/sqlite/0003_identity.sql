-- Widget identity verification: the host site's user id of a contact (docs/api.md "Widget
-- identity"). Several contacts without one are fine: NULLs are distinct in a unique index.
ALTER TABLE contacts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX contacts_external_id ON contacts (account_id, external_id);
-- 1 when the email was typed by a widget visitor, unchecked: a signed email does not find the
-- contact then (it takes the address over instead), so no one can pre-claim another's address.
ALTER TABLE contacts ADD COLUMN email_unverified INTEGER NOT NULL DEFAULT 0;
