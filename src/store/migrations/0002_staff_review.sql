-- Concord store, format 2: staff accounts and their sessions, the outcome of a review, the texts a
-- draft was checked against (so the console shows what the checker saw, whatever the knowledge
-- base says later) and the reports of knowledge changes. Times are Unix milliseconds.

CREATE TABLE staff (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'admin')),
    -- Argon2id, PHC string format (salt and parameters included).
    password_hash TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

-- Only the sha256 of a session cookie is kept, as for conversation tokens.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id   BIGINT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX staff_sessions_by_expiry ON staff_sessions (expires_ms);

-- Who reviewed a pending decision, when, why (a rejection's reason) and what was sent.
ALTER TABLE decisions ADD COLUMN reviewed_by TEXT;
ALTER TABLE decisions ADD COLUMN reviewed_ms BIGINT;
ALTER TABLE decisions ADD COLUMN review_note TEXT;
ALTER TABLE decisions ADD COLUMN sent_message_id BIGINT REFERENCES messages (id) ON DELETE SET NULL;

-- What the draft was checked against, as JSON {"canonical": text or null, "context": [passage
-- texts in the order the verdict's `Context(n)` references count them]}.
ALTER TABLE drafts ADD COLUMN references_json TEXT NOT NULL DEFAULT '{}';

CREATE TABLE knowledge_reports (
    id          INTEGER PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    report_json TEXT NOT NULL
);

-- The stats page reads decisions by time.
CREATE INDEX decisions_by_time ON decisions (created_ms);

-- ...and conversations by creation (the stats range).
CREATE INDEX conversations_by_creation ON conversations (created_ms);
