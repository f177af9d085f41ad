-- Patient identifiers, kept apart from the facts and the log, so no event or topic carries them.
--
-- Each patient (per trust) has a data key, stored only wrapped by the key-encryption key.
-- Deleting the wrapped key is erasure by crypto-shredding: every ciphertext of that patient,
-- here and in any backup of this table, becomes unreadable, while the log and everything built
-- from it keeps working with the pseudonym.
CREATE TABLE patient_keys (
    pseudonym    text        PRIMARY KEY,
    trust        text        NOT NULL,
    wrapped_key  bytea       NOT NULL,
    kek_id       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE incident_patients (
    incident_id  uuid        PRIMARY KEY,
    trust        text        NOT NULL,
    pseudonym    text        NOT NULL,
    nonce        bytea       NOT NULL,
    ciphertext   bytea       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_patients_pseudonym ON incident_patients (trust, pseudonym);

-- Who read or erased identifiers: evidence for the data protection officer, never changed.
CREATE TABLE identifier_access (
    id              bigserial   PRIMARY KEY,
    incident_id     uuid,
    trust           text        NOT NULL,
    pseudonym       text        NOT NULL,
    action          text        NOT NULL,
    actor           text        NOT NULL,
    correlation_id  text        NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identifier_access_incident ON identifier_access (incident_id);
CREATE TRIGGER identifier_access_no_update BEFORE UPDATE OR DELETE ON identifier_access
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
