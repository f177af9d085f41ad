-- People's tasks on a case (docs/deadlines.md, "Tasks"). One row per incident: the tasks aggregate
-- (what the rule last read of the classification and the report window, and every task) as the
-- domain sees it.
CREATE TABLE incident_tasks (
    incident_id    uuid        PRIMARY KEY,
    trust          text        NOT NULL,
    site           text        NOT NULL,
    correlation_id text        NOT NULL,
    state          jsonb       NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- The same tasks flattened for the work queue; ``task`` is the task as people read it.
CREATE TABLE tasks (
    task_id     uuid        PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incident_tasks ON DELETE CASCADE,
    kind        text        NOT NULL,
    trust       text        NOT NULL,
    site        text        NOT NULL,
    status      text        NOT NULL,
    due_at      timestamptz,
    owner_role  text,
    task        jsonb       NOT NULL
);
CREATE INDEX tasks_by_tenant ON tasks (trust, site, status, due_at);
CREATE INDEX tasks_by_incident ON tasks (incident_id);

-- Pending task timers, fired by the same loop and under the same rules as the window timers:
-- firing deletes the row in the transaction that writes its events to the outbox. A table of
-- their own keeps the window timers' rows (and their restart tests' oracle) as they are.
CREATE TABLE task_timers (
    timer_id    bigserial   PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incident_tasks ON DELETE CASCADE,
    task_kind   text        NOT NULL,
    kind        text        NOT NULL,
    fire_at     timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    days_before integer
);
CREATE INDEX task_timers_by_fire_at ON task_timers (fire_at);
CREATE INDEX task_timers_by_incident ON task_timers (incident_id, task_kind);
