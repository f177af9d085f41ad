-- Cases whose retention period ended (deadlines' CaseRetentionExpired, the trust's policy under
-- Regulation 8(3), guidance line 227). The incident's identifiers are no longer served, and once
-- none of the patient's incidents is still retained their data key is shredded, as on erasure.
CREATE TABLE retention_expiries (
    incident_id    uuid        PRIMARY KEY,
    trust          text        NOT NULL,
    retain_until   date        NOT NULL,
    correlation_id text        NOT NULL,
    expired_at     timestamptz NOT NULL DEFAULT now()
);
