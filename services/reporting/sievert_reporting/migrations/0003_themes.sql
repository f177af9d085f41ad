-- Thematic reviews, projected from reporting's own events on the themes topic, and summaries
-- other trusts shared on the shared-themes topic. All rebuildable from the log.
CREATE TABLE themes (
    theme_id        uuid        PRIMARY KEY,
    trust           text        NOT NULL,
    site            text        NOT NULL,  -- the site that opened it; the theme spans the trust
    title           text        NOT NULL,
    description     text        NOT NULL,
    opened_by_role  text        NOT NULL,
    opened_at       timestamptz NOT NULL
);
CREATE INDEX themes_by_trust ON themes (trust, opened_at DESC);

CREATE TABLE theme_incidents (
    theme_id    uuid        NOT NULL REFERENCES themes (theme_id),
    incident_id uuid        NOT NULL,
    trust       text        NOT NULL,
    site        text        NOT NULL,
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (theme_id, incident_id)
);

CREATE TABLE shared_themes (
    theme_id     uuid        PRIMARY KEY,
    source_trust text        NOT NULL,
    summary      jsonb       NOT NULL,
    shared_at    timestamptz NOT NULL,
    stream_version integer   NOT NULL  -- a later share of the same theme replaces an earlier one
);

-- Not a projection: whether a trust consents to see (and so to receive) other trusts' shared
-- theme summaries. Set through the API; a replay leaves it alone.
CREATE TABLE trust_settings (
    trust                 text    PRIMARY KEY,
    shared_themes_consent boolean NOT NULL DEFAULT false
);
