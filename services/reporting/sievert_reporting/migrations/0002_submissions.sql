-- Regulator submissions and investigation findings, projected from reporting's own events on the
-- submissions topic (so a replay rebuilds them), plus activity counts a trust loads for rates.
CREATE TABLE submissions (
    submission_id     uuid        PRIMARY KEY,
    incident_id       uuid        NOT NULL,
    trust             text        NOT NULL,
    site              text        NOT NULL,
    kind              text        NOT NULL,
    authority         text        NOT NULL,
    status            text        NOT NULL,
    contact_role      text        NOT NULL,
    summary           text,
    document          jsonb,
    document_sha256   text,
    submitted_at      timestamptz,
    submitted_by_role text,
    reference         text,
    acknowledged_at   timestamptz,
    stream_version    integer     NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (incident_id, kind)
);
CREATE INDEX submissions_by_tenant ON submissions (trust, site, status);

CREATE TABLE findings (
    incident_id       uuid        PRIMARY KEY,
    trust             text        NOT NULL,
    site              text        NOT NULL,
    findings          jsonb       NOT NULL,
    recorded_by_roles text[]      NOT NULL DEFAULT '{}',
    stream_version    integer     NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX findings_by_tenant ON findings (trust, site);

-- Not a projection: the examinations a trust performed, loaded through the API, for rates per
-- 1,000 examinations. A replay leaves it alone.
CREATE TABLE activity_counts (
    trust        text    NOT NULL,
    site         text    NOT NULL,
    modality     text    NOT NULL,
    year_start   date    NOT NULL,
    year_end     date    NOT NULL,
    examinations integer NOT NULL CHECK (examinations >= 0),
    PRIMARY KEY (trust, site, modality, year_start)
);
