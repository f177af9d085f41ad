-- The case lifecycle: what each window says to people (provisional or firm, counted from which
-- day, late by how many days, why cancelled, extensions in full) and the case's status beside
-- it, so GET /v1/deadlines can filter on both without reading the aggregate.
ALTER TABLE windows
    ADD COLUMN provisional      boolean     NOT NULL DEFAULT false,
    ADD COLUMN needs_facts      jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN clock_from       date,
    ADD COLUMN binding_due_at   timestamptz,
    ADD COLUMN days_late        integer     NOT NULL DEFAULT 0,
    ADD COLUMN cancelled_reason text,
    ADD COLUMN extension_detail jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN case_status      text        NOT NULL DEFAULT 'open';
CREATE INDEX windows_by_case_status ON windows (trust, case_status, due_at);

-- The modality of each incident, from intake's facts: it sets how long a closed case is kept
-- (the trust's retention policy). Written whenever the facts are reported or amended.
CREATE TABLE incident_modalities (
    incident_id uuid PRIMARY KEY,
    modality    text NOT NULL
);

-- The case's retention timer lives in ``timers`` with window_kind 'case'.
