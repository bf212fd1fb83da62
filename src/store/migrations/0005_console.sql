-- Concord store, format 5: a staff member's console language, the end-of-conversation survey
-- (did it solve the problem, the optional NPS score) and a full-text index of messages for the
-- console's conversation search (SQLite FTS5, kept in step by triggers).

ALTER TABLE staff ADD COLUMN lang TEXT CHECK (lang IN ('pl', 'en'));

CREATE TABLE surveys (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    -- The customer's answer to "did this solve your problem?" (NULL: not answered).
    resolved        BOOLEAN,
    -- 0-10, "how likely are you to recommend us" (NULL: not asked or not answered).
    nps             INTEGER CHECK (nps BETWEEN 0 AND 10),
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);

-- External content: the text stays in `messages`; the index holds only the tokens. Diacritics are
-- folded, so "zwrot" finds "zwrót" and a customer who types without Polish letters is found too.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
