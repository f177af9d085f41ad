"""HL7 v2 messages in, ACKs out: decode, map, store through the one command path, acknowledge.

AA only once the message's event, outbox row and PID identifiers are committed; AE when the
message is understood but refused (with ERR naming segment and field); AR when it cannot be
read, or could not be stored and should be sent again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import secrets
from collections.abc import Awaitable, Callable

from sievert_intake.domain.commands import RecordMessage, RequestContext
from sievert_intake.domain.hl7_mapping import (
    DUPLICATE_KEY,
    INTERNAL_ERROR,
    TABLE_VALUE_NOT_FOUND,
    UNKNOWN_KEY,
    Facility,
    Header,
    Hl7ContentError,
    Hl7Demographics,
    Hl7Incident,
    Hl7Location,
    Hl7Problem,
    Hl7Rejected,
    build_ack,
    decode,
    locate,
    map_message,
    read_header,
    salvage_header,
    unstorable_fields,
)
from sievert_intake.domain.identity import IdentityPort
from sievert_intake.domain.inbound import FactsInvalidError
from sievert_intake.service_layer.errors import DuplicateMessageConflictError, IncidentNotFoundError
from sievert_intake.service_layer.group_commit import GroupCommitter
from sievert_intake.service_layer.intake import Accepted
from sievert_shared.auth import Principal
from sievert_shared.clock import Clock
from sievert_shared.logging import get_logger
from sievert_shared.metrics import MllpMetrics

log = get_logger(__name__)


class Hl7Handler:
    """One message in, one ACK out.

    ``begin`` does the reading at once and returns the ACK, or an awaitable of it when the
    message has to be stored first (through ``committer``, with other connections' messages).
    """

    def __init__(
        self,
        committer: GroupCommitter[RecordMessage],
        clock: Clock,
        identity: IdentityPort,
        facilities: dict[str, Facility] | None = None,
        clients: Callable[[str], Principal | None] | None = None,
        metrics: MllpMetrics | None = None,
    ) -> None:
        """``clients`` maps a sending facility (MSH-4) to its integration client; ``None`` is
        development mode, where every facility is accepted as itself."""
        self._committer = committer
        self._clients = clients
        self._clock = clock
        self._identity = identity
        self._facilities = facilities or {}
        self._metrics = metrics
        # ACK control ids: SVT + 17 hex digits, a random prefix per handler and a counter (cheaper
        # than a UUID per ACK, and as unique within a process).
        self._ack_prefix = f"SVT{secrets.token_hex(5)[:9]}"
        self._ack_numbers = itertools.count()

    def _ack(self, code: str, header: Header | None, problems: list[Hl7Problem] | None = None) -> bytes:
        text = build_ack(
            code,
            header=header,
            control_id=f"{self._ack_prefix}{next(self._ack_numbers) & 0xFFFFFFFF:08x}",
            now=self._clock.now().astimezone(dt.UTC),
            problems=list(problems or []),
        )
        if self._metrics is not None:
            self._metrics.acks.labels(code).inc()
        return text.encode("utf-8")

    def reject(self, problem: Hl7Problem, head: bytes = b"") -> bytes:
        """AR for a frame that cannot be read as a message (too large, truncated)."""
        header = None
        with contextlib.suppress(Exception):
            header = read_header(head.decode("latin-1"))
        return self._ack("AR", header or salvage_header(head), [problem])

    def begin(self, message: bytes) -> bytes | Awaitable[bytes]:
        header: Header | None = None
        try:
            text = decode(message)
            header = read_header(text)
            unstorable = unstorable_fields(text, header)
            if unstorable:
                raise Hl7ContentError(unstorable)
            caller = self._caller(header)
            mapped = map_message(text, header, self._facilities)
            if isinstance(mapped, Hl7Demographics):
                return self._demographics(mapped, self._demographics_actor(caller, mapped, header))
            return self._stored(self._committer.submit(self._command(caller, mapped, header)), mapped, header)
        except Exception as exc:
            return self._answer_failure(exc, header or salvage_header(message))

    @staticmethod
    def _demographics_actor(caller: Principal | None, mapped: Hl7Demographics, header: Header) -> str:
        """Who updates the patient's demographics, if the sending facility may."""
        if caller is None:
            return header.sending_application or ""
        if not caller.sees(mapped.trust):
            problem = Hl7Problem(
                Hl7Location("MSH", 4),
                f"sending facility {header.sending_facility} may not update patients "
                f"of {mapped.trust}; nothing was stored",
                TABLE_VALUE_NOT_FOUND,
            )
            raise Hl7ContentError([problem])
        return caller.subject

    @staticmethod
    def _command(caller: Principal | None, mapped: Hl7Incident, header: Header) -> RecordMessage:
        """The incident message as a command, if the sending facility may report for its site."""
        tenant = mapped.submission.tenant
        if caller is not None and not caller.may_post_for(tenant.trust, tenant.site):
            problem = Hl7Problem(
                Hl7Location("PV1", 3),
                f"sending facility {header.sending_facility} may not report for "
                f"{tenant.trust}/{tenant.site}; nothing was stored",
                TABLE_VALUE_NOT_FOUND,
            )
            raise Hl7ContentError([problem])
        ctx = RequestContext(
            correlation_id=f"hl7:{header.control_id}"[:128],
            # The configured client, not a name the message chose for itself.
            actor=caller.subject if caller is not None else (header.sending_application or None),
            idempotency_key=None,
            request_hash="",
        )
        return RecordMessage(mapped.submission, ctx)

    def _caller(self, header: Header) -> Principal | None:
        """MLLP carries no credentials: the sending facility names the client, and the network
        (TLS or a private link to the engine) vouches for it. Unknown facilities get AR."""
        if self._clients is None:
            return None
        caller = self._clients(header.sending_facility)
        if caller is None:
            raise Hl7Rejected(
                Hl7Problem(
                    Hl7Location("MSH", 4),
                    f"sending facility {header.sending_facility!r} is not a configured client",
                    UNKNOWN_KEY,
                ),
                header,
            )
        return caller

    async def _demographics(self, mapped: Hl7Demographics, actor: str) -> bytes:
        """ADT^A08/A31: into the identifier vault (never onto a topic); AA once stored, AR (send
        again) when the store failed."""
        try:
            if mapped.identifiers is not None:
                await self._identity.demographics_updated(
                    mapped.trust, mapped.identifiers, actor, f"hl7:{mapped.header.control_id}"[:128]
                )
        except Exception as exc:
            return self._answer_failure(exc, mapped.header)
        return self._ack("AA", mapped.header)

    async def _stored(self, stored: Awaitable[Accepted], mapped: Hl7Incident, header: Header) -> bytes:
        """The ACK once the message's event, outbox row and PID identifiers (encrypted, in the
        same transaction) are committed."""
        try:
            try:
                accepted = await stored
            except FactsInvalidError as exc:
                raise Hl7ContentError(locate(exc.problems, mapped.provenance, header)) from None
        except Exception as exc:
            return self._answer_failure(exc, header)
        log.debug(
            "intake.hl7_accepted",
            control_id=header.control_id,
            message_type=header.message_type,
            incident_id=str(accepted.incident_id),
            duplicate=accepted.duplicate,
        )
        return self._ack("AA", header)

    def _answer_failure(self, exc: Exception, header: Header | None) -> bytes:
        """The ACK for a message that failed; called while ``exc`` is being handled."""
        if isinstance(exc, Hl7Rejected):
            log.info("intake.hl7_rejected", problems=[str(p) for p in exc.problems])
            return self._ack("AR", exc.header or header, exc.problems)
        if isinstance(exc, Hl7ContentError):
            log.info(
                "intake.hl7_content_error",
                control_id=header.control_id if header else None,
                problems=[str(p) for p in exc.problems],
            )
            return self._ack("AE", header, exc.problems)
        if isinstance(exc, DuplicateMessageConflictError):
            problem = Hl7Problem(
                Hl7Location("MSH", 10),
                f"message control id {exc.source_message_id} was already received with other content "
                f"(incident {exc.incident_id}); nothing was stored",
                DUPLICATE_KEY,
            )
            return self._ack("AE", header, [problem])
        if isinstance(exc, IncidentNotFoundError):
            problem = Hl7Problem(None, f"unknown incident {exc.incident_id}", UNKNOWN_KEY)
            return self._ack("AE", header, [problem])
        # The database or Kafka may be down: AR tells the engine to keep the message and resend.
        log.exception("intake.hl7_failed", control_id=header.control_id if header else None)
        problem = Hl7Problem(None, "the message could not be stored; send it again", INTERNAL_ERROR)
        return self._ack("AR", header, [problem])
