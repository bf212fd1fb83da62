-- Concord store, format 6: the name customers see for a staff member (NULL: customers see only
-- "staff"; the sign-in name is never shown to them).

ALTER TABLE staff ADD COLUMN display_name TEXT;
