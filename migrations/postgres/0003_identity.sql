-- Widget identity verification: the host site's user id of a contact (docs/api.md "Widget
-- identity"). Several contacts without one are fine: NULLs are distinct.
ALTER TABLE contacts ADD COLUMN external_id text;
ALTER TABLE contacts
    ADD CONSTRAINT contacts_external_id_key UNIQUE (account_id, external_id);
