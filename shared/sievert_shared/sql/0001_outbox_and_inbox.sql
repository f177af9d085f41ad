-- Transactional outbox: a service writes its state change and the events it emits in one
-- transaction; the relay publishes rows in position order and stamps published_at.
CREATE TABLE outbox (
    position     bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    message_key  bytea       NOT NULL,
    envelope     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotent consumers: the id of every event whose effect is committed, written in the same
-- transaction as the effect, so a redelivered event is recognised and skipped.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Per-incident stream versions of the events this service emits (intake numbers its own
-- streams in its event store instead).
CREATE TABLE emitted_stream_versions (
    stream_id uuid    PRIMARY KEY,
    version   integer NOT NULL
);
