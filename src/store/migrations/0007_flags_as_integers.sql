-- Concord store, format 7: the two yes/no columns become INTEGER 0/1 (SQLite keeps them so
-- anyway). sqlx's `Any` driver, which lets the same queries run on SQLite and PostgreSQL, refuses
-- a column declared BOOLEAN on SQLite, so decisions and surveys are rebuilt with the same rows.

CREATE TABLE decisions_v7 (
    id                   INTEGER PRIMARY KEY,
    message_id           BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reply_id             BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    draft_id             BIGINT REFERENCES drafts (id) ON DELETE SET NULL,
    action               TEXT NOT NULL CHECK (action IN ('send', 'send_canonical', 'hold', 'handoff', 'no_answer')),
    mode                 TEXT NOT NULL,
    draft_blocked        INTEGER NOT NULL CHECK (draft_blocked IN (0, 1)),
    reasons_json         TEXT NOT NULL,
    canonical_id         TEXT,
    canonical_similarity REAL,
    context_similarity   REAL,
    proposal             TEXT,
    triage_json          TEXT NOT NULL,
    timings_json         TEXT NOT NULL,
    review_status        TEXT NOT NULL CHECK (review_status IN ('none', 'pending', 'approved', 'edited', 'rejected')),
    created_ms           BIGINT NOT NULL,
    reviewed_by          TEXT,
    reviewed_ms          BIGINT,
    review_note          TEXT,
    sent_message_id      BIGINT REFERENCES messages (id) ON DELETE SET NULL
);
INSERT INTO decisions_v7 (id, message_id, reply_id, draft_id, action, mode, draft_blocked,
    reasons_json, canonical_id, canonical_similarity, context_similarity, proposal, triage_json,
    timings_json, review_status, created_ms, reviewed_by, reviewed_ms, review_note, sent_message_id)
SELECT id, message_id, reply_id, draft_id, action, mode, CASE WHEN draft_blocked THEN 1 ELSE 0 END,
    reasons_json, canonical_id, canonical_similarity, context_similarity, proposal, triage_json,
    timings_json, review_status, created_ms, reviewed_by, reviewed_ms, review_note, sent_message_id
FROM decisions;
DROP TABLE decisions;
ALTER TABLE decisions_v7 RENAME TO decisions;
CREATE INDEX decisions_by_message ON decisions (message_id);
CREATE INDEX decisions_by_review ON decisions (review_status, created_ms);
CREATE INDEX decisions_by_time ON decisions (created_ms);

CREATE TABLE surveys_v7 (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    resolved        INTEGER CHECK (resolved IN (0, 1)),
    nps             INTEGER CHECK (nps BETWEEN 0 AND 10),
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);
INSERT INTO surveys_v7 (conversation_id, resolved, nps, created_ms, updated_ms)
SELECT conversation_id, CASE WHEN resolved IS NULL THEN NULL WHEN resolved THEN 1 ELSE 0 END,
    nps, created_ms, updated_ms
FROM surveys;
DROP TABLE surveys;
ALTER TABLE surveys_v7 RENAME TO surveys;
