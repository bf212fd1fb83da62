-- Concord store, format 4: an e-mail address a customer left for replies after they have gone,
-- with the consent text they accepted and when (erasable: the three columns are cleared), and
-- the newest message the customer's widget has shown (a person's reply after it goes by e-mail).

ALTER TABLE conversations ADD COLUMN contact_email TEXT;
ALTER TABLE conversations ADD COLUMN contact_consent_ms BIGINT;
ALTER TABLE conversations ADD COLUMN contact_consent_text TEXT;
ALTER TABLE conversations ADD COLUMN seen_message_id BIGINT NOT NULL DEFAULT 0;
