-- Each person's dose records as intake received them, to keep running totals per calendar year.
-- A correction marks the records it replaces as superseded; they no longer count.
CREATE TABLE worker_dose_records (
    record_id             uuid        PRIMARY KEY,
    trust                 text        NOT NULL,
    person_pseudonym      text        NOT NULL,
    category              text        NOT NULL,
    nation                text        NOT NULL,
    period_start          date        NOT NULL,
    period_end            date        NOT NULL,
    doses                 jsonb       NOT NULL,
    pregnancy_declared_on date,
    superseded_by         uuid,
    received_at           timestamptz NOT NULL
);
CREATE INDEX worker_dose_records_person ON worker_dose_records (trust, person_pseudonym)
    WHERE superseded_by IS NULL;

-- The limits and investigation levels announced as exceeded (WorkerDoseLimitExceeded,
-- WorkerInvestigationLevelExceeded) and not withdrawn since, so each is announced once.
CREATE TABLE worker_dose_exceedances (
    trust            text    NOT NULL,
    person_pseudonym text    NOT NULL,
    limit_table      text    NOT NULL,
    limit_key        text    NOT NULL,
    period_key       text    NOT NULL,
    year             integer NOT NULL,
    -- The limit as announced, so its withdrawal cites it even after the table or level changed.
    limit_cited      jsonb   NOT NULL,
    PRIMARY KEY (trust, person_pseudonym, limit_table, limit_key, period_key)
);
