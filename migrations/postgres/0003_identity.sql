-- Widget identity verification: the host site's user id of a contact (docs/api.md "Widget
-- identity"). Several contacts without one are fine: NULLs are distinct.
ALTER TABLE contacts ADD COLUMN external_id text;
ALTER TABLE contacts
    ADD CONSTRAINT contacts_external_id_key UNIQUE (account_id, external_id);
-- True when the email was typed by a widget visitor, unchecked: a signed email does not find the
-- contact then (it takes the address over instead), so no one can pre-claim another's address.
ALTER TABLE contacts ADD COLUMN email_unverified boolean NOT NULL DEFAULT false;
