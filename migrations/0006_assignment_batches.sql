-- Several assignments to one PIC within ASSIGNMENT_BATCH_SECS go out as one message listing
-- the complaints (issue 15): the rows folded into another row's message name that row here,
-- and share its delivery state (receipts name only the row whose id the message carries).
ALTER TABLE notification_outbox ADD COLUMN merged_into uuid;
CREATE INDEX notification_outbox_merged ON notification_outbox (merged_into) WHERE merged_into IS NOT NULL;
