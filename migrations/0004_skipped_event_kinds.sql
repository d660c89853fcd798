-- Why an event was skipped, so an operator can tell a log the projection cannot read from
-- one the read models cannot hold:
--   unreadable  the event cannot be decoded (unknown type, newer version, bad subject)
--   refused     the domain refuses it on the state before it (e.g. a second ComplaintLogged)
--   data_error  PostgreSQL refuses what it would write (SQLSTATE class 22 or 23: a number
--               given twice, a NUL in text); `sqlstate` says which
-- Rows written before this migration are of the first two kinds and read as unreadable.
ALTER TABLE skipped_events
    ADD COLUMN kind text NOT NULL DEFAULT 'unreadable'
        CHECK (kind IN ('unreadable', 'refused', 'data_error')),
    ADD COLUMN sqlstate text;
