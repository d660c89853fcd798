-- The trace of the event that created a notification, so the relay's publish (and the
-- workers behind NOTIFY) continue the request's trace.
ALTER TABLE notification_outbox ADD COLUMN traceparent text;
