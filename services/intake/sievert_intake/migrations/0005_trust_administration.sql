-- Trust administration: a trust admin registers the trust's sites and its
-- integration clients at run time, without a redeploy. Only the SHA-256 of a client's secret is
-- stored; the secret is shown once, when the client is made.
CREATE TABLE trust_sites (
    trust          text        NOT NULL,
    site           text        NOT NULL,
    name           text        NOT NULL,
    nation         text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    registered_by  text        NOT NULL,
    PRIMARY KEY (trust, site)
);

CREATE TABLE integration_clients (
    key_id         text        PRIMARY KEY,
    trust          text        NOT NULL,
    name           text        NOT NULL,
    sites          text[]      NOT NULL,
    roles          text[]      NOT NULL,
    secret_sha256  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    created_by     text        NOT NULL,
    revoked_at     timestamptz,
    revoked_by     text
);
CREATE INDEX integration_clients_trust ON integration_clients (trust);

-- Who changed a trust's sites and clients, and when: never changed, never deleted.
CREATE TABLE trust_admin_log (
    id              bigserial   PRIMARY KEY,
    trust           text        NOT NULL,
    action          text        NOT NULL,
    subject         text        NOT NULL,
    details         jsonb       NOT NULL,
    actor           text        NOT NULL,
    correlation_id  text        NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX trust_admin_log_trust ON trust_admin_log (trust, id);
CREATE FUNCTION refuse_change_to_append_only_table() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END $$;
CREATE TRIGGER trust_admin_log_append_only BEFORE UPDATE OR DELETE ON trust_admin_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only_table();
