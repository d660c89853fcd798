-- Running totals behind the aging and resolution reports, so a report reads a few thousand
-- small rows instead of scanning every complaint. Statement triggers with transition tables
-- keep them in step with `complaints`: every writer (the projector, a rebuild, a hand-made
-- fix) moves them in its own transaction, set-based, once per statement.
--
-- `dimension` is what a report groups by; `key` is the PIC id, category code or PTJ, with ''
-- standing for "nobody holds it yet" (a primary key cannot hold NULL).

-- Open complaints by the Malaysian day they were logged: the report ages them against the
-- calendar at read time, so the totals never go stale as days pass.
CREATE TABLE open_by_day (
    dimension text NOT NULL CHECK (dimension IN ('pic', 'category', 'ptj')),
    key       text NOT NULL,
    logged_on date NOT NULL,
    open      bigint NOT NULL,
    PRIMARY KEY (dimension, key, logged_on)
);

-- Closed complaints by working days from logging to closing, as the calendar counts them.
CREATE TABLE closed_by_working_days (
    dimension    text NOT NULL CHECK (dimension IN ('pic', 'category', 'ptj')),
    key          text NOT NULL,
    working_days integer NOT NULL,
    closed       bigint NOT NULL,
    PRIMARY KEY (dimension, key, working_days)
);

-- The statements that add (sign = 1) or remove (sign = -1) the complaints in relation
-- `changed` (a transition table, or `complaints` itself for a recount) to the totals in
-- `schema`. The schema comes from the trigger, so the totals follow their table through a
-- rebuild's schema rename. The caller runs them: transition tables are visible only in the
-- trigger function's own statements.
CREATE FUNCTION report_totals_moves(changed text, sign integer, schema text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[format(
        'INSERT INTO %3$I.open_by_day AS t (dimension, key, logged_on, open)
           SELECT k.dimension, k.key, (c.logged_at AT TIME ZONE ''Asia/Kuala_Lumpur'')::date, sum(%2$s)
           FROM %1$I c CROSS JOIN LATERAL (VALUES
             (''pic'', COALESCE(c.pic_id, '''')), (''category'', c.category), (''ptj'', c.ptj)) k (dimension, key)
           WHERE c.status <> ''closed''
           GROUP BY 1, 2, 3
         ON CONFLICT (dimension, key, logged_on) DO UPDATE SET open = t.open + EXCLUDED.open',
        changed, sign, schema),
    format(
        'INSERT INTO %3$I.closed_by_working_days AS t (dimension, key, working_days, closed)
           SELECT k.dimension, k.key, COALESCE(cc.working_index - cl.working_index, 0), sum(%2$s)
           FROM %1$I c CROSS JOIN LATERAL (VALUES
             (''pic'', COALESCE(c.pic_id, '''')), (''category'', c.category), (''ptj'', c.ptj)) k (dimension, key)
           LEFT JOIN %3$I.calendar cl ON cl.day = (c.logged_at AT TIME ZONE ''Asia/Kuala_Lumpur'')::date
           LEFT JOIN %3$I.calendar cc ON cc.day = (c.closed_at AT TIME ZONE ''Asia/Kuala_Lumpur'')::date
           WHERE c.status = ''closed''
           GROUP BY 1, 2, 3
         ON CONFLICT (dimension, key, working_days) DO UPDATE SET closed = t.closed + EXCLUDED.closed',
        changed, sign, schema)]
$$;

CREATE FUNCTION complaints_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    move text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        FOREACH move IN ARRAY report_totals_moves('old_rows', -1, TG_TABLE_SCHEMA) LOOP
            EXECUTE move;
        END LOOP;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        FOREACH move IN ARRAY report_totals_moves('new_rows', 1, TG_TABLE_SCHEMA) LOOP
            EXECUTE move;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER complaints_inserted AFTER INSERT ON complaints
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION complaints_moved();
CREATE TRIGGER complaints_updated AFTER UPDATE ON complaints
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION complaints_moved();
CREATE TRIGGER complaints_deleted AFTER DELETE ON complaints
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION complaints_moved();

-- Recounts both totals from `complaints` in the current schema: after the calendar changes
-- (working days to close depend on it), and to check that the triggers kept them right.
CREATE FUNCTION recount_report_totals() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    move text;
BEGIN
    DELETE FROM open_by_day;
    DELETE FROM closed_by_working_days;
    FOREACH move IN ARRAY report_totals_moves('complaints', 1, current_schema()) LOOP
        EXECUTE move;
    END LOOP;
END
$$;

-- Complaints projected before this migration.
SELECT recount_report_totals();
