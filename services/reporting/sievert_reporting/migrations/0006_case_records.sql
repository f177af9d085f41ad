-- The case records of Regulation 8 (guidance lines 116-131, 223-227), projected from the cases
-- topic (so a replay rebuilds them), and the day each theme was identified (line 278).

-- The day a theme was identified; themes opened before it are identified the day they were opened.
ALTER TABLE themes ADD COLUMN identified_on date;
UPDATE themes SET identified_on = (opened_at AT TIME ZONE 'UTC')::date;
ALTER TABLE themes ALTER COLUMN identified_on SET NOT NULL;

-- The local investigation as a record (reporting's own events): owner by role, close-out, history.
-- ``version`` counts its events: the expected_version of the next command.
CREATE TABLE local_investigations (
    incident_id        uuid        PRIMARY KEY,
    trust              text        NOT NULL,
    site               text        NOT NULL,
    owner_role         text,
    status             text        NOT NULL CHECK (status IN ('open', 'closed')),
    version            integer     NOT NULL,
    closed_on          date,
    closed_by_role     text,
    findings           text,
    error_duty_holder  text,
    error_process_step text,
    corrective_actions jsonb       NOT NULL DEFAULT '[]',
    history            jsonb       NOT NULL DEFAULT '[]',
    stream_version     integer     NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX local_investigations_by_tenant ON local_investigations (trust, status);

-- The authority's queries and the trust's answers (reporting's own events).
CREATE TABLE authority_queries (
    query_id         uuid        PRIMARY KEY,
    incident_id      uuid        NOT NULL,
    trust            text        NOT NULL,
    site             text        NOT NULL,
    authority        text        NOT NULL,
    received_on      date        NOT NULL,
    summary          text        NOT NULL,
    recorded_by_role text        NOT NULL,
    answered_on      date,
    answer           text,
    answered_by_role text,
    stream_version   integer     NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX authority_queries_by_incident ON authority_queries (incident_id);

-- The case: its status from the deadlines service's events (guarded by that service's stream
-- version, ``case_version``), and the authority's closure from reporting's own (guarded by
-- reporting's, ``authority_version``). Each producer writes its own columns only.
CREATE TABLE incident_cases (
    incident_id       uuid        PRIMARY KEY,
    trust             text        NOT NULL,
    site              text        NOT NULL,
    status            text        NOT NULL DEFAULT 'open'
                                  CHECK (status IN ('open', 'withdrawal_requested', 'closed')),
    closure_basis     text,
    closed_on         date,
    retain_until      date,
    retention_expired boolean     NOT NULL DEFAULT false,
    reopen_reason     text,
    reopened_at       timestamptz,
    withdrawal        jsonb,
    case_version      integer     NOT NULL DEFAULT 0,
    authority_closure jsonb,
    authority_version integer     NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX incident_cases_by_status ON incident_cases (trust, status);

-- People's tasks (the deadlines service's events), each guarded by the version of its last event.
CREATE TABLE case_tasks (
    task_id        uuid        PRIMARY KEY,
    incident_id    uuid        NOT NULL,
    trust          text        NOT NULL,
    site           text        NOT NULL,
    kind           text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    owner_role     text,
    due_at         timestamptz,
    overdue        boolean     NOT NULL DEFAULT false,
    reason         text,
    completed_on   date,
    stream_version integer     NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX case_tasks_by_incident ON case_tasks (incident_id, status);
