-- Concord store, format 1: conversations, messages with provenance, drafts with verdicts,
-- decisions with reasons, feedback and the staff audit log. Times are Unix milliseconds.
-- The queries that use these tables are written in portable SQL ($n parameters, RETURNING)
-- so that a PostgreSQL migration of the same schema can serve them.

CREATE TABLE conversations (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL,
    lang         TEXT CHECK (lang IN ('pl', 'en')),
    status       TEXT NOT NULL CHECK (status IN ('bot', 'waiting_staff', 'staff', 'closed')),
    context_json TEXT NOT NULL DEFAULT '{}',
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    closed_ms    BIGINT
);
CREATE INDEX conversations_by_update ON conversations (updated_ms);
CREATE INDEX conversations_by_status ON conversations (status, updated_ms);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('customer', 'assistant', 'staff', 'system')),
    provenance      TEXT CHECK (provenance IN ('canonical', 'generated', 'human', 'system')),
    text            TEXT NOT NULL,
    -- The customer message this one answers.
    reply_to        BIGINT REFERENCES messages (id) ON DELETE CASCADE,
    sources_json    TEXT NOT NULL DEFAULT '[]',
    decision        TEXT,
    author          TEXT,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

CREATE TABLE drafts (
    id                INTEGER PRIMARY KEY,
    -- The customer message the draft answers.
    message_id        BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    text              TEXT NOT NULL,
    finish            TEXT NOT NULL,
    sources_json      TEXT NOT NULL,
    cited_json        TEXT NOT NULL,
    canonical_id      TEXT,
    verdict_status    TEXT,
    verdict_json      TEXT,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    created_ms        BIGINT NOT NULL
);
CREATE INDEX drafts_by_message ON drafts (message_id);

CREATE TABLE decisions (
    id                   INTEGER PRIMARY KEY,
    message_id           BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reply_id             BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    draft_id             BIGINT REFERENCES drafts (id) ON DELETE SET NULL,
    action               TEXT NOT NULL CHECK (action IN ('send', 'send_canonical', 'hold', 'handoff', 'no_answer')),
    mode                 TEXT NOT NULL,
    draft_blocked        BOOLEAN NOT NULL,
    reasons_json         TEXT NOT NULL,
    canonical_id         TEXT,
    canonical_similarity REAL,
    context_similarity   REAL,
    -- The text proposed to staff when held.
    proposal             TEXT,
    triage_json          TEXT NOT NULL,
    timings_json         TEXT NOT NULL,
    -- pending: waits for staff (held, handed off, blocked draft); then approved/edited/rejected.
    review_status        TEXT NOT NULL CHECK (review_status IN ('none', 'pending', 'approved', 'edited', 'rejected')),
    created_ms           BIGINT NOT NULL
);
CREATE INDEX decisions_by_message ON decisions (message_id);
CREATE INDEX decisions_by_review ON decisions (review_status, created_ms);

CREATE TABLE feedback (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      BIGINT REFERENCES messages (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('thumb', 'csat')),
    value           INTEGER NOT NULL,
    comment         TEXT,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX feedback_by_conversation ON feedback (conversation_id, kind);
-- One score per conversation and one thumb per message: a new one replaces the old (upsert).
CREATE UNIQUE INDEX feedback_one_csat ON feedback (conversation_id) WHERE kind = 'csat';
CREATE UNIQUE INDEX feedback_one_thumb ON feedback (message_id) WHERE kind = 'thumb';

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY,
    at_ms           BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    conversation_id TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    detail_json     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_time ON audit_events (at_ms);
