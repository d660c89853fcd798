-- Read models of the projection service. Every table can be dropped and rebuilt from the
-- event log (`ehelpdesk-projection rebuild`). Names are unqualified: the service sets
-- search_path to its schema (`readmodel`, or a fresh one while rebuilding).

-- The last stream sequence applied, written in the same transaction as the models.
CREATE TABLE projection_checkpoint (
    name          text PRIMARY KEY,
    last_sequence bigint NOT NULL,
    updated_at    timestamptz NOT NULL
);
INSERT INTO projection_checkpoint (name, last_sequence, updated_at) VALUES ('main', 0, now());

-- The staff directory: who to notify and how.
CREATE TABLE staff (
    staff_id      text PRIMARY KEY,
    name          text NOT NULL,
    email         text NOT NULL,
    phone         text NOT NULL,
    ptj           text NOT NULL,
    roles         text[] NOT NULL,
    categories    text[] NOT NULL,
    active        boolean NOT NULL,
    state         jsonb NOT NULL,
    last_sequence bigint NOT NULL
);

-- One row per complaint: every field the list and detail screens show. `state` is the
-- aggregate as the domain folds it; the columns are derived from it for querying.
CREATE TABLE complaints (
    complaint_id         uuid PRIMARY KEY,
    number               text NOT NULL UNIQUE,
    title                text NOT NULL,
    description          text NOT NULL,
    category             text NOT NULL,
    channel              text NOT NULL,
    complainant_id       text NOT NULL,
    complainant_ic       text NOT NULL,
    complainant_name     text NOT NULL,
    complainant_email    text NOT NULL,
    complainant_phone    text NOT NULL,
    ptj                  text NOT NULL,
    status               text NOT NULL,
    pic_id               text,
    pic_name             text,
    implementor_id       text,
    implementor_name     text,
    vendor               text,
    vendor_log_number    text,
    logged_at            timestamptz NOT NULL,
    assigned_at          timestamptz,
    first_response_at    timestamptz,
    closed_at            timestamptz,
    last_activity_at     timestamptz NOT NULL,
    closed_by            text,
    satisfaction_rating  smallint,
    satisfaction_comment text,
    reopen_count         integer NOT NULL,
    state                jsonb NOT NULL,
    last_sequence        bigint NOT NULL,
    search               tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || description)) STORED
);
CREATE INDEX complaints_inbox ON complaints (pic_id, logged_at, complaint_id) WHERE status <> 'closed';
CREATE INDEX complaints_triage ON complaints (logged_at, complaint_id) WHERE status = 'new';
CREATE INDEX complaints_listing ON complaints (logged_at DESC, complaint_id DESC);
CREATE INDEX complaints_complainant ON complaints (complainant_id, logged_at DESC);
CREATE INDEX complaints_status ON complaints (status);
CREATE INDEX complaints_category ON complaints (category);
CREATE INDEX complaints_ptj ON complaints (ptj);
CREATE INDEX complaints_closed ON complaints (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX complaints_search ON complaints USING gin (search);

-- Every step of every complaint. Internal notes never reach a complainant.
CREATE TABLE timeline (
    complaint_id    uuid NOT NULL,
    sequence        bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    event_type      text NOT NULL,
    actor_id        text NOT NULL,
    actor_role      text NOT NULL,
    actor_name      text NOT NULL,
    status          text NOT NULL,
    message         text,
    details         jsonb NOT NULL,
    visibility      text NOT NULL CHECK (visibility IN ('public', 'internal')),
    PRIMARY KEY (complaint_id, sequence)
);

-- Notifications to send: one row per recipient and channel. The relay publishes unsent
-- rows to the NOTIFY stream with Nats-Msg-Id = id and stamps published_at.
CREATE TABLE notification_outbox (
    id             uuid PRIMARY KEY,
    sequence       bigint NOT NULL,
    complaint_id   uuid NOT NULL,
    event_type     text NOT NULL,
    recipient_id   text NOT NULL,
    recipient_role text NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('email', 'whatsapp')),
    address        text NOT NULL,
    subject        text NOT NULL,
    body           text NOT NULL,
    created_at     timestamptz NOT NULL,
    published_at   timestamptz
);
CREATE INDEX notification_outbox_pending ON notification_outbox (sequence, id) WHERE published_at IS NULL;

-- Events the projection could not read (unknown type or version): recorded, then skipped.
CREATE TABLE skipped_events (
    sequence    bigint PRIMARY KEY,
    subject     text NOT NULL,
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL
);

-- The working-day calendar: `working_index` counts working days from the calendar's first
-- day, so the working days between two dates is a subtraction. Filled at start-up from the
-- configured week and the holiday file.
CREATE TABLE calendar (
    day           date PRIMARY KEY,
    is_working    boolean NOT NULL,
    holiday       text,
    working_index integer NOT NULL
);
