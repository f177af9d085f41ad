"""HL7 v2 over MLLP: an asyncio listener that answers every message with an ACK once it is stored.

MLLP frames a message as ``<VT> message <FS><CR>``. Integration engines keep one connection open
and may send several messages before reading an ACK (pipelining); each connection is served in
order, one message at a time, so amendments apply in the order they were sent and ACKs come back
in the same order. Nothing about a peer can make the listener buffer more than
``max_message_bytes`` or wait forever: oversized frames are discarded as they arrive and refused
with AR, a frame interrupted by a new start block is refused with AR, and silent or stalled
connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sievert_intake.domain.hl7_mapping import (
    DUPLICATE_KEY,
    INTERNAL_ERROR,
    UNKNOWN_KEY,
    Facility,
    Header,
    Hl7ContentError,
    Hl7Demographics,
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
from sievert_intake.service import (
    DuplicateMessageConflictError,
    IncidentNotFoundError,
    IntakeService,
    RequestContext,
)
from sievert_shared.clock import Clock
from sievert_shared.logging import get_logger

log = get_logger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_HEAD_BYTES = 4096  # kept from an oversized frame, to read its MSH for the AR


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


class Hl7Handler:
    """One message in, one ACK out: decode, map, store through IntakeService, acknowledge."""

    def __init__(
        self,
        service: Callable[[], IntakeService],
        clock: Clock,
        identity: IdentityPort,
        facilities: dict[str, Facility] | None = None,
    ) -> None:
        self._service = service
        self._clock = clock
        self._identity = identity
        self._facilities = facilities or {}

    def _ack(self, code: str, header: Header | None, problems: list[Hl7Problem] = ()) -> bytes:  # type: ignore[assignment]
        text = build_ack(
            code,
            header=header,
            control_id=f"SVT{uuid.uuid4().hex[:17]}",
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
        header: Header | None = None
        try:
            text = decode(message)
            header = read_header(text)
            mapped = map_message(text, header, self._facilities)
            if isinstance(mapped, Hl7Demographics):
                await self._identity.demographics_updated(mapped)
                return self._ack("AA", header)
            ctx = RequestContext(
                correlation_id=f"hl7:{header.control_id}"[:128],
                actor=header.sending_application or None,
                idempotency_key=None,
                request_hash="",
            )
            try:
                outcome = await self._service().submit(mapped.submission, ctx)
            except FactsInvalidError as exc:
                raise Hl7ContentError(locate(exc.problems, mapped.provenance, header)) from None
            log.debug(
                "intake.hl7_accepted",
                control_id=header.control_id,
                message_type=header.message_type,
                incident_id=str(outcome.incident_id),
                duplicate=outcome.duplicate,
            )
            return self._ack("AA", header)
        except Hl7Rejected as exc:
            log.info("intake.hl7_rejected", problems=[str(p) for p in exc.problems])
            return self._ack("AR", exc.header or header, exc.problems)
        except Hl7ContentError as exc:
            log.info(
                "intake.hl7_content_error",
                control_id=header.control_id if header else None,
                problems=[str(p) for p in exc.problems],
            )
            return self._ack("AE", header, exc.problems)
        except DuplicateMessageConflictError as exc:
            problem = Hl7Problem(
                Hl7Location("MSH", 10),
                f"message control id {exc.source_message_id} was already received with other content "
                f"(incident {exc.incident_id}); nothing was stored",
                DUPLICATE_KEY,
            )
            return self._ack("AE", header, [problem])
        except IncidentNotFoundError as exc:
            return self._ack("AE", header, [Hl7Problem(None, f"unknown incident {exc}", UNKNOWN_KEY)])
        except Exception:
            # The database or Kafka may be down: AR tells the engine to keep the message and resend.
            log.exception("intake.hl7_failed", control_id=header.control_id if header else None)
            problem = Hl7Problem(None, "the message could not be stored; send it again", INTERNAL_ERROR)
            return self._ack("AR", header, [problem])


@dataclass
class MllpLimits:
    max_message_bytes: int = 1024 * 1024
    idle_timeout: float = 600.0
    frame_timeout: float = 30.0


class MllpListener:
    """Serves MLLP on ``host:port`` until ``stop`` is set (a runtime LoopSpec, or standalone)."""

    def __init__(
        self,
        handle: Callable[[bytes], Awaitable[bytes]],
        reject: Callable[[Hl7Problem, bytes], bytes],
        *,
        host: str,
        port: int,
        limits: MllpLimits | None = None,
    ) -> None:
        self._handle = handle
        self._reject = reject
        self._host = host
        self._port = port
        self._limits = limits or MllpLimits()
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
        limits = self._limits
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
                    answer = self._reject(
                        Hl7Problem(None, "truncated frame: a start block arrived before the end block", 100),
                        bytes(buffer[:_HEAD_BYTES]) or head,
                    )
                    await self._send(writer, answer)
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
                    answer = self._reject(
                        Hl7Problem(None, f"the message is larger than {limits.max_message_bytes} bytes", 100),
                        head,
                    )
                else:
                    answer = await self._handle(bytes(buffer))
                buffer.clear()
                await self._send(writer, answer)

    @staticmethod
    def _append(buffer: bytearray, piece: bytes, oversized: bool) -> None:
        if not oversized:
            buffer += piece

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, answer: bytes) -> None:
        writer.write(frame(answer))
        await writer.drain()
