-- The latest decision per incident, to tell a reclassification from a repeat.
CREATE TABLE classifications (
    incident_id   uuid        PRIMARY KEY,
    trust         text        NOT NULL,
    site          text        NOT NULL,
    facts_version integer     NOT NULL,
    discovered_on date        NOT NULL,
    notifiable    boolean     NOT NULL,
    codes         text[]      NOT NULL,
    decision      jsonb       NOT NULL,
    classified_at timestamptz NOT NULL
);
