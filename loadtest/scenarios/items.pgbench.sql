-- Baseline (ii): PostgreSQL's ceiling for Parley's timeline write, one transaction per message
-- with the statements of `append_item` (src/store/postgres/conversations.rs): lock the
-- conversation, look the client id up, insert the item, advance last_seq, append the report
-- event. Run by baselines.sh on the chat scenario's database (table load_convs numbers its
-- conversations 1..:nconv).
\set n random(1, :nconv)
SELECT id AS conv, account_id AS acc, inbox_id AS inbox, contact_id AS contact FROM load_convs WHERE n = :n \gset
BEGIN;
SELECT last_seq AS last, (SELECT ch.kind FROM channels ch WHERE ch.account_id = c.account_id AND ch.id = c.channel_id) AS channel_kind FROM conversations c WHERE account_id = :acc AND id = :conv FOR UPDATE \gset
SELECT id FROM timeline_items WHERE conversation_id = :conv AND client_id = gen_random_uuid();
INSERT INTO timeline_items (id, account_id, conversation_id, seq, client_id, kind, author_type, author_id, direction, body, mentions, data, delivery_status, created_at) VALUES (gen_random_uuid(), :acc, :conv, :last + 1, gen_random_uuid(), 'message', 'contact', :contact, 'in', repeat('x', 100), '{}', NULL, NULL, now()) RETURNING id, seq, created_at;
UPDATE conversations SET last_seq = :last + 1, updated_at = now() WHERE account_id = :acc AND id = :conv;
INSERT INTO events (account_id, kind, inbox_id, conversation_id, agent_id, data, occurred_at) VALUES (:acc, 'message.received', :inbox, :conv, NULL, jsonb_build_object('seq', :last + 1), now());
COMMIT;
