-- Intake's event store: append-only, keyed by (stream_id, stream_version) for optimistic
-- concurrency, with a global position that orders the whole log.
CREATE TABLE events (
    global_position bigserial   PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       uuid        NOT NULL,
    stream_version  integer     NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    trust           text        NOT NULL,
    site            text        NOT NULL,
    envelope        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    UNIQUE (stream_id, stream_version)
);

-- The log is evidence for a regulator: no row is ever changed or removed.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Idempotency-Key: the same key and body give the same answer; another body gives 409.
CREATE TABLE idempotency_keys (
    idempotency_key text        PRIMARY KEY,
    request_hash    text        NOT NULL,
    status_code     integer     NOT NULL,
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
