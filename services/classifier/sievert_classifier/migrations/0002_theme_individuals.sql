-- The facts behind the latest decision, so a theme event can re-decide an incident without
-- intake (rows classified before this migration have none until their next amendment), and the
-- individuals each theme the incident belongs to has reached (code M, guidance line 276-281).
ALTER TABLE classifications ADD COLUMN facts jsonb;

CREATE TABLE incident_themes (
    incident_id uuid    NOT NULL,
    theme_id    uuid    NOT NULL,
    individuals integer NOT NULL CHECK (individuals >= 0),
    PRIMARY KEY (incident_id, theme_id)
);
