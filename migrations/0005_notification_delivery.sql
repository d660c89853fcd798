-- Notifications reach people (issue 15): the outbox carries what the notifier needs to
-- deliver a row (the complaint's number, the WhatsApp template and its body parameters), and
-- records what became of it from the receipts the notifier sends back on NOTIFY.
--
-- Delivery columns hold the latest receipt by (retry_cycle, attempts, state rank), the order
-- of `Receipt::supersedes` (shared/src/notification/receipt.rs), so receipts arriving twice or
-- out of order leave the same row. `delivered_at` is set while the state is `sent`;
-- `receipt_at` is when the worker reported the state shown.
ALTER TABLE notification_outbox
    ADD COLUMN complaint_number    text NOT NULL DEFAULT '',
    ADD COLUMN template            text NOT NULL DEFAULT 'notice',
    ADD COLUMN params              text[] NOT NULL DEFAULT '{}',
    ADD COLUMN delivery_state      text NOT NULL DEFAULT 'queued'
        CHECK (delivery_state IN ('queued', 'failed', 'dead_lettered', 'sent')),
    ADD COLUMN attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN retry_cycle         integer NOT NULL DEFAULT 0 CHECK (retry_cycle >= 0),
    ADD COLUMN delivery_reason     text,
    ADD COLUMN provider_message_id text,
    ADD COLUMN delivered_at        timestamptz,
    ADD COLUMN receipt_at          timestamptz;

-- `GET /v1/outbox?state=dead_lettered`, newest first: an admin looks for what failed lately.
CREATE INDEX notification_outbox_state ON notification_outbox (delivery_state, sequence DESC, id);
-- `GET /v1/complaints/{id}/notifications`: who was told of one complaint.
CREATE INDEX notification_outbox_complaint ON notification_outbox (complaint_id, sequence, id);

-- Rows the relay has yet to publish go out as the `notice` template, whose one parameter is
-- the subject, and with their complaint's number; published rows are left as they were.
UPDATE notification_outbox o SET complaint_number = c.number, params = ARRAY[o.subject]
FROM complaints c
WHERE c.complaint_id = o.complaint_id AND o.published_at IS NULL;
