-- Staff choose how they are told (issue 15, "No floods"): e-mail and WhatsApp on or off,
-- derived from the stored state like the other columns, for the queries that pick
-- recipients outside the event fan-out (the daily digest). Rows written before the choice
-- existed hold both on, as their replayed events do.
ALTER TABLE staff
    ADD COLUMN notify_email    boolean NOT NULL DEFAULT true,
    ADD COLUMN notify_whatsapp boolean NOT NULL DEFAULT true;
