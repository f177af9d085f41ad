-- One row per incident: the deadlines aggregate (windows, extensions) as the domain sees it.
CREATE TABLE incident_deadlines (
    incident_id    uuid        PRIMARY KEY,
    trust          text        NOT NULL,
    site           text        NOT NULL,
    correlation_id text        NOT NULL,
    state          jsonb       NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- The same windows flattened for reads by people and dashboards.
CREATE TABLE windows (
    incident_id   uuid        NOT NULL REFERENCES incident_deadlines ON DELETE CASCADE,
    window_kind   text        NOT NULL,
    trust         text        NOT NULL,
    site          text        NOT NULL,
    status        text        NOT NULL,
    discovered_on date        NOT NULL,
    due_at        timestamptz NOT NULL,
    authority     text,
    met_at        timestamptz,
    extensions    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, window_kind)
);
CREATE INDEX windows_by_tenant ON windows (trust, site, status, due_at);

-- Pending timers only: firing deletes the row in the transaction that writes its events to
-- the outbox, so a timer fires exactly once however the process stops.
CREATE TABLE timers (
    timer_id     bigserial   PRIMARY KEY,
    incident_id  uuid        NOT NULL REFERENCES incident_deadlines ON DELETE CASCADE,
    window_kind  text        NOT NULL,
    kind         text        NOT NULL,
    fire_at      timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    days_before  integer,
    days_overdue integer
);
CREATE INDEX timers_by_fire_at ON timers (fire_at);
CREATE INDEX timers_by_incident ON timers (incident_id, window_kind);

-- Per-trust policy (Regulation 8(3) window length and reminder offsets); absent = defaults.
CREATE TABLE trust_policies (
    trust      text        PRIMARY KEY,
    policy     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL
);
