-- Widget identity verification: the host site's user id of a contact (docs/api.md "Widget
-- identity"). Several contacts without one are fine: NULLs are distinct in a unique index.
ALTER TABLE contacts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX contacts_external_id ON contacts (account_id, external_id);
