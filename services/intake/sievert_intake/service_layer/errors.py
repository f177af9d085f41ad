"""What a command can refuse, as the shared application errors: HTTP maps them to problem+json
once (``sievert_shared.http``), FHIR to OperationOutcome, HL7 v2 to an ACK."""

from __future__ import annotations

import uuid

from sievert_shared.errors import ConflictError, NotFoundError, ProblemError


class IncidentNotFoundError(NotFoundError):
    """No such incident, or one of another trust (which must look the same)."""

    def __init__(self, incident_id: uuid.UUID | str) -> None:
        super().__init__(f"no incident {incident_id}")
        self.incident_id = incident_id


class IdempotencyConflictError(ConflictError):
    """The Idempotency-Key was used before with a different body; nothing was stored."""

    title = "Idempotency key reused"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request body")


class DuplicateMessageConflictError(ConflictError):
    """The sender's message id was used before for different content; nothing was stored."""

    title = "Source message reused"

    def __init__(self, source_message_id: str, incident_id: str | None) -> None:
        super().__init__(
            f"source_message_id {source_message_id} already reported incident {incident_id} "
            "with other facts; nothing was stored",
            incident_id=incident_id,
        )
        self.source_message_id = source_message_id
        self.incident_id = incident_id


class VersionConflictError(ConflictError):
    """An amendment written against a version the incident has moved on from."""

    title = "Version conflict"

    def __init__(self, incident_id: uuid.UUID, expected: int, actual: int) -> None:
        super().__init__(
            f"the incident is at version {actual}; re-read it and send expected_version={actual}",
            current_version=actual,
        )
        self.incident_id = incident_id
        self.expected = expected
        self.actual = actual


class IdentifiersErasedError(ProblemError):
    """The patient's data key was shredded: their identifiers are gone for good."""

    status = 410
    title = "Gone"

    def __init__(self, pseudonym: str) -> None:
        super().__init__("the patient's identifiers were erased", patient_pseudonym=pseudonym)
