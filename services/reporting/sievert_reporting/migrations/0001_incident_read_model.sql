-- Reporting's read model of incidents: one row per incident, projected from intake's,
-- the classifier's and the deadlines service's events. Rebuildable from the log at any time.
CREATE TABLE incidents (
    incident_id          uuid        PRIMARY KEY,
    trust                text        NOT NULL,
    site                 text        NOT NULL,
    nation               text,
    modality             text,
    exposure_kind        text,
    discovered_on        date,
    occurred_on          date,
    facts                jsonb,
    facts_version        integer     NOT NULL DEFAULT 0,
    notifiable           boolean,
    codes                text[]      NOT NULL DEFAULT '{}',
    authority            text,
    csaue                boolean,
    ruleset              text,
    decision             jsonb,
    deadlines            jsonb       NOT NULL DEFAULT '{}',
    reported_at          timestamptz,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX incidents_by_tenant ON incidents (trust, site, discovered_on DESC, incident_id DESC);
CREATE INDEX incidents_by_codes ON incidents USING gin (codes);
