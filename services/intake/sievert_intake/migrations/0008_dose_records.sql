-- Occupational and public dose records (POST /v1/dose-records): the periods received per person,
-- to refuse an overlapping record (409) unless it is a correction, which supersedes the records it
-- overlaps. The event each record made is kept with it, as sent to the outbox.
CREATE TABLE dose_records (
    record_id        uuid        PRIMARY KEY,
    event_id         uuid        NOT NULL UNIQUE,
    trust            text        NOT NULL,
    site             text        NOT NULL,
    person_pseudonym text        NOT NULL,
    period_start     date        NOT NULL,
    period_end       date        NOT NULL,
    superseded_by    uuid        REFERENCES dose_records (record_id),
    recorded_at      timestamptz NOT NULL,
    envelope         jsonb       NOT NULL,
    CHECK (period_start <= period_end)
);
CREATE INDEX dose_records_in_force ON dose_records (trust, person_pseudonym)
    WHERE superseded_by IS NULL;
