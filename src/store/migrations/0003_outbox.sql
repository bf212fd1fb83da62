-- Concord store, format 3: the outbox of events for the shop's own systems (webhooks), one row
-- per event and target, written in the same transaction as what caused the event, so that an
-- event survives a crash and is delivered at least once. Times are Unix milliseconds.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    -- The event's id, the same for every target; receivers de-duplicate on it.
    event_id        TEXT NOT NULL,
    -- The configured endpoint's name.
    target          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('handoff', 'held', 'no_answer', 'staff_reply', 'closed', 'feedback')),
    conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
    -- The event's details (ids and codes; never customer text, which is read at delivery when
    -- the endpoint asks for it).
    data_json       TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'skipped', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- When the next attempt is due; while an attempt runs, the end of its lease.
    next_ms         BIGINT NOT NULL,
    last_error      TEXT,
    delivered_ms    BIGINT,
    UNIQUE (event_id, target)
);
CREATE INDEX outbox_due ON outbox (status, next_ms);
CREATE INDEX outbox_by_conversation ON outbox (conversation_id);
