"""HL7 v2 over MLLP: an asyncio listener that answers every message with an ACK once it is stored.

MLLP frames a message as ``<VT> message <FS><CR>``. Integration engines keep one connection open
and may send several messages before reading an ACK (pipelining). A connection reads ahead: each
complete frame is decoded and mapped at once and queued for storing, while the ACKs go back
strictly in the order the messages came, each only after its own commit. Storing keeps the
arrival order too (``GroupCommitter``: one writer, messages of one commit independent of each
other), so amendments apply in the order they were sent. Nothing about a peer can make the
listener buffer much more than ``max_message_bytes``: at most that many bytes of read-ahead
messages wait for their ACKs, oversized frames are discarded as they arrive and refused with AR,
a frame interrupted by a new start block is refused with AR, and silent or stalled connections
are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
)
from sievert_intake.domain.identity import IdentityPort
from sievert_intake.domain.inbound import FactsInvalidError
from sievert_intake.group_commit import GroupCommitter
from sievert_intake.service import (
    DuplicateMessageConflictError,
    IncidentNotFoundError,
    IntakeService,
    Outcome,
    RequestContext,
)
from sievert_shared.auth import Principal
from sievert_shared.clock import Clock
from sievert_shared.logging import get_logger

log = get_logger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_HEAD_BYTES = 4096  # kept from an oversized frame, to read its MSH for the AR


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


class Hl7Handler:
    """One message in, one ACK out: decode, map, store through IntakeService, acknowledge.

    ``begin`` does the reading at once and returns the ACK, or an awaitable of it when the
    message has to be stored first (through ``committer`` when given, with other messages).
    """

    def __init__(
        self,
        service: Callable[[], IntakeService],
        clock: Clock,
        identity: IdentityPort,
        facilities: dict[str, Facility] | None = None,
        committer: GroupCommitter | None = None,
        clients: Callable[[str], Principal | None] | None = None,
    ) -> None:
        """``clients`` maps a sending facility (MSH-4) to its integration client; ``None`` is
        development mode, where every facility is accepted as itself."""
        self._service = service
        self._clients = clients
        self._clock = clock
        self._identity = identity
        self._facilities = facilities or {}
        self._committer = committer
        # ACK control ids: SVT + 17 hex digits, a random prefix per handler and a counter (cheaper
        # than a UUID per ACK, and as unique within a process).
        self._ack_prefix = f"SVT{secrets.token_hex(5)[:9]}"
        self._ack_numbers = itertools.count()

    def _ack(self, code: str, header: Header | None, problems: list[Hl7Problem] = ()) -> bytes:  # type: ignore[assignment]
        text = build_ack(
            code,
            header=header,
            control_id=f"{self._ack_prefix}{next(self._ack_numbers) & 0xFFFFFFFF:08x}",
            now=self._clock.now().astimezone(dt.UTC),
            problems=list(problems),
        )
        return text.encode("utf-8")

    def reject(self, problem: Hl7Problem, head: bytes = b"") -> bytes:
        """AR for a frame that cannot be read as a message (too large, truncated)."""
        header = None
        with contextlib.suppress(Exception):
            header = read_header(head.decode("latin-1"))
        return self._ack("AR", header, [problem])

    async def handle(self, message: bytes) -> bytes:
        answer = self.begin(message)
        return answer if isinstance(answer, bytes) else await answer

    def begin(self, message: bytes) -> bytes | Awaitable[bytes]:
        header: Header | None = None
        try:
            text = decode(message)
            header = read_header(text)
            caller = self._caller(header)
            mapped = map_message(text, header, self._facilities)
            if isinstance(mapped, Hl7Demographics):
                if caller is not None and not caller.sees(mapped.trust):
                    raise Hl7ContentError(
                        [
                            Hl7Problem(
                                Hl7Location("MSH", 4),
                                f"sending facility {header.sending_facility} may not update patients "
                                f"of {mapped.trust}; nothing was stored",
                                TABLE_VALUE_NOT_FOUND,
                            )
                        ]
                    )
                actor = caller.subject if caller is not None else (header.sending_application or "")
                return self._demographics(mapped, actor)
            tenant = mapped.submission.tenant
            if caller is not None and not caller.may_post_for(tenant.trust, tenant.site):
                raise Hl7ContentError(
                    [
                        Hl7Problem(
                            Hl7Location("PV1", 3),
                            f"sending facility {header.sending_facility} may not report for "
                            f"{tenant.trust}/{tenant.site}; nothing was stored",
                            TABLE_VALUE_NOT_FOUND,
                        )
                    ]
                )
            ctx = RequestContext(
                correlation_id=f"hl7:{header.control_id}"[:128],
                # The configured client, not a name the message chose for itself.
                actor=caller.subject if caller is not None else (header.sending_application or None),
                idempotency_key=None,
                request_hash="",
            )
            if self._committer is not None:
                stored: Awaitable[Outcome] = self._committer.submit(mapped.submission, ctx)
            else:
                stored = self._service().submit(mapped.submission, ctx)
            return self._stored(stored, mapped, header)
        except Exception as exc:
            return self._answer_failure(exc, header)

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

    async def _stored(self, stored: Awaitable[Outcome], mapped: Hl7Incident, header: Header) -> bytes:
        """The ACK once the message's event, outbox row and PID identifiers (encrypted, in the
        same transaction) are committed."""
        try:
            try:
                outcome = await stored
            except FactsInvalidError as exc:
                raise Hl7ContentError(locate(exc.problems, mapped.provenance, header)) from None
        except Exception as exc:
            return self._answer_failure(exc, header)
        log.debug(
            "intake.hl7_accepted",
            control_id=header.control_id,
            message_type=header.message_type,
            incident_id=str(outcome.incident_id),
            duplicate=outcome.duplicate,
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
            return self._ack("AE", header, [Hl7Problem(None, f"unknown incident {exc}", UNKNOWN_KEY)])
        # The database or Kafka may be down: AR tells the engine to keep the message and resend.
        log.exception("intake.hl7_failed", control_id=header.control_id if header else None)
        problem = Hl7Problem(None, "the message could not be stored; send it again", INTERNAL_ERROR)
        return self._ack("AR", header, [problem])


@dataclass
class MllpLimits:
    max_message_bytes: int = 1024 * 1024
    idle_timeout: float = 600.0
    frame_timeout: float = 30.0
    #: Messages a connection may have read ahead of its last ACK (also bounded by
    #: ``max_message_bytes`` in total, beyond the first).
    read_ahead: int = 64


class _ReadAhead:
    """Messages of one connection read but not yet answered: at most ``messages`` of them and,
    beyond the first, ``size`` bytes in total."""

    def __init__(self, messages: int, size: int) -> None:
        self._messages = messages
        self._size = size
        self._count = 0
        self._bytes = 0
        self._freed = asyncio.Event()

    async def enter(self, size: int) -> None:
        while self._count and (self._count >= self._messages or self._bytes + size > self._size):
            self._freed.clear()
            await self._freed.wait()
        self._count += 1
        self._bytes += size

    def leave(self, size: int) -> None:
        self._count -= 1
        self._bytes -= size
        self._freed.set()


_Answers = asyncio.Queue[tuple[bytes | Awaitable[bytes], int] | None]


class MllpListener:
    """Serves MLLP on ``host:port`` until ``stop`` is set (a runtime LoopSpec, or standalone).

    ``handle`` reads a message and returns its ACK, or an awaitable of it; it is called in the
    order the messages arrive, and the ACKs are sent in that order."""

    def __init__(
        self,
        handle: Callable[[bytes], bytes | Awaitable[bytes]],
        reject: Callable[[Hl7Problem, bytes], bytes],
        *,
        host: str,
        port: int,
        limits: MllpLimits | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._handle = handle
        self._reject = reject
        self._host = host
        self._port = port
        self._limits = limits or MllpLimits()
        self._on_stop = on_stop
        self._connections: set[asyncio.Task[None]] = set()
        self.started = asyncio.Event()
        self.port: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        server = await asyncio.start_server(self._serve, self._host, self._port, limit=64 * 1024)
        try:
            self.port = int(server.sockets[0].getsockname()[1])
            log.info("intake.mllp_listening", host=self._host, port=self.port)
            self.started.set()
            await stop.wait()
        finally:
            self.started.clear()
            server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=5)
            if self._on_stop is not None:
                await self._on_stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            log.info("intake.mllp_peer_gone", peer=str(peer))
        except asyncio.CancelledError:
            pass
        except Exception:
            # One peer's bad luck must not take the listener down: close this connection only.
            log.exception("intake.mllp_connection_failed", peer=str(peer))
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=2)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read frames and send their answers concurrently; when reading ends (the peer closed or
        went quiet), answer everything read so far, then close."""
        answers: _Answers = asyncio.Queue()
        window = _ReadAhead(self._limits.read_ahead, self._limits.max_message_bytes)
        receiving = asyncio.ensure_future(self._receive(reader, answers, window))
        sending = asyncio.ensure_future(self._send_answers(writer, answers, window))
        try:
            done, _ = await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
            if sending in done:
                sending.result()  # a write failed: the peer is gone
                return
            answers.put_nowait(None)
            await sending
            receiving.result()
        finally:
            for task in (receiving, sending):
                task.cancel()
            await asyncio.gather(receiving, sending, return_exceptions=True)
            while not answers.empty():
                item = answers.get_nowait()
                if item is not None and asyncio.iscoroutine(item[0]):
                    item[0].close()  # never to be answered: the peer is gone

    async def _receive(self, reader: asyncio.StreamReader, answers: _Answers, window: _ReadAhead) -> None:
        limits = self._limits

        async def answer(reply: bytes) -> None:
            await window.enter(0)
            answers.put_nowait((reply, 0))

        buffer = bytearray()
        in_frame = False
        oversized = False
        head = b""
        frame_bytes = 0
        while True:
            timeout = limits.frame_timeout if in_frame else limits.idle_timeout
            try:
                chunk = await asyncio.wait_for(reader.read(64 * 1024), timeout=timeout)
            except TimeoutError:
                log.info("intake.mllp_timeout", in_frame=in_frame)
                return
            if not chunk:
                if in_frame:
                    log.info("intake.mllp_truncated_at_close", bytes=frame_bytes)
                return
            position = 0
            while position < len(chunk):
                if not in_frame:
                    start = chunk.find(START_BLOCK, position)
                    if start < 0:
                        break  # bytes between frames carry nothing: ignore them
                    in_frame, oversized, head, frame_bytes = True, False, b"", 0
                    buffer.clear()
                    position = start + 1
                    continue
                end = chunk.find(b"\x1c", position)
                restart = chunk.find(START_BLOCK, position)
                if restart >= 0 and (end < 0 or restart < end):
                    # A new frame started before this one ended: the sender lost its place.
                    self._append(buffer, chunk[position:restart], oversized)
                    await answer(
                        self._reject(
                            Hl7Problem(
                                None, "truncated frame: a start block arrived before the end block", 100
                            ),
                            bytes(buffer[:_HEAD_BYTES]) or head,
                        )
                    )
                    in_frame = False
                    position = restart
                    continue
                piece = chunk[position : end if end >= 0 else len(chunk)]
                frame_bytes += len(piece)
                if not oversized and frame_bytes > limits.max_message_bytes:
                    oversized = True
                    head = bytes(buffer[:_HEAD_BYTES])
                    buffer.clear()
                self._append(buffer, piece, oversized)
                if end < 0:
                    break
                # FS must be followed by CR; it may arrive in the next read.
                if end + 1 >= len(chunk):
                    follow = await asyncio.wait_for(reader.read(1), timeout=limits.frame_timeout)
                    if not follow:
                        return
                    chunk = chunk + follow
                if chunk[end + 1 : end + 2] != b"\r":
                    # A stray FS inside the message: keep it as data.
                    self._append(buffer, b"\x1c", oversized)
                    frame_bytes += 1
                    position = end + 1
                    continue
                position = end + 2
                in_frame = False
                if oversized:
                    await answer(
                        self._reject(
                            Hl7Problem(
                                None, f"the message is larger than {limits.max_message_bytes} bytes", 100
                            ),
                            head,
                        )
                    )
                else:
                    size = len(buffer)
                    await window.enter(size)
                    answers.put_nowait((self._handle(bytes(buffer)), size))
                buffer.clear()

    @staticmethod
    def _append(buffer: bytearray, piece: bytes, oversized: bool) -> None:
        if not oversized:
            buffer += piece

    @staticmethod
    async def _send_answers(writer: asyncio.StreamWriter, answers: _Answers, window: _ReadAhead) -> None:
        """ACKs in message order, each as soon as it (and every one before it) is ready."""
        while True:
            item = await answers.get()
            if item is None:
                return
            answer, size = item
            if not isinstance(answer, bytes):
                answer = await answer
            writer.write(frame(answer))
            window.leave(size)
            if answers.empty():
                await writer.drain()
