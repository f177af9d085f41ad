-- A sender's message id (HL7 v2 MSH-10, FHIR Bundle.identifier, JSON source_message_id) creates
-- at most one incident per trust: an engine that resends after a lost ACK must not report the
-- incident twice. The index is the guarantee; the service looks the message up first so that a
-- resend gets the original answer rather than an error.
CREATE UNIQUE INDEX events_reported_source_message
    ON events (trust, (envelope #>> '{payload,source_message_id}'))
    WHERE event_type = 'IncidentReported' AND envelope #>> '{payload,source_message_id}' IS NOT NULL;

-- The sender's own identifier for an incident (HL7 PES-5 or OBR-3, FHIR AdverseEvent.identifier),
-- so a later message about the same incident amends it instead of reporting a new one.
CREATE TABLE incident_references (
    trust       text        NOT NULL,
    reference   text        NOT NULL,
    incident_id uuid        NOT NULL,
    channel     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trust, reference)
);
CREATE INDEX incident_references_by_incident ON incident_references (incident_id);
