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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from sievert_intake.domain.hl7_mapping import Hl7Problem
from sievert_shared.logging import get_logger
from sievert_shared.metrics import MllpMetrics

log = get_logger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_END_OF_DATA, _CARRIAGE_RETURN = b"\x1c", b"\r"
_HEAD_BYTES = 4096  # kept from an oversized frame, to read its MSH for the AR
_SEGMENT_SEQUENCE_ERROR = 100  # HL7 table 0357: the frame, not the message, is at fault


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


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
        metrics: MllpMetrics | None = None,
    ) -> None:
        self._handle = handle
        self._reject = reject
        self._host = host
        self._port = port
        self._limits = limits or MllpLimits()
        self._on_stop = on_stop
        self._metrics = metrics
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
        """Read frames until the peer closes or goes quiet, queueing each one's answer."""
        limits = self._limits
        frames = Deframer(limits.max_message_bytes)
        while True:
            timeout = limits.frame_timeout if frames.in_frame else limits.idle_timeout
            try:
                chunk = await asyncio.wait_for(reader.read(64 * 1024), timeout=timeout)
            except TimeoutError:
                log.info("intake.mllp_timeout", in_frame=frames.in_frame)
                return
            if not chunk:
                if frames.in_frame:
                    log.info("intake.mllp_truncated_at_close", bytes=frames.frame_bytes)
                return
            for kind, data in frames.feed(chunk):
                await self._queue_answer(kind, data, answers, window)

    async def _queue_answer(self, kind: Frame, data: bytes, answers: _Answers, window: _ReadAhead) -> None:
        """Start on a frame's answer, in arrival order, once the read-ahead window has room."""
        if self._metrics is not None:
            self._metrics.frames.labels(kind.value).inc()
        if kind is Frame.MESSAGE:
            await window.enter(len(data))
            answers.put_nowait((self._handle(data), len(data)))
            return
        if kind is Frame.TRUNCATED:
            text = "truncated frame: a start block arrived before the end block"
        else:
            text = f"the message is larger than {self._limits.max_message_bytes} bytes"
        await window.enter(0)
        answers.put_nowait((self._reject(Hl7Problem(None, text, _SEGMENT_SEQUENCE_ERROR), data), 0))

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


class Frame(Enum):
    MESSAGE = "message"  # data: the message
    OVERSIZED = "oversized"  # data: its first bytes, for the AR's header
    TRUNCATED = "truncated"  # data: its first bytes, for the AR's header


class Deframer:
    """MLLP frames out of a connection's byte stream, whatever the chunks: ``feed`` returns the
    frames each chunk completes. An oversized frame is discarded as it arrives (only its head is
    kept), bytes between frames are ignored, and a start block inside a frame truncates it."""

    def __init__(self, max_message_bytes: int) -> None:
        self._max = max_message_bytes
        self._buffer = bytearray()
        self.in_frame = False
        self._oversized = False
        self._head = b""
        self.frame_bytes = 0
        self._end_pending = False  # the last chunk ended on FS: is CR next?
        self._truncation_answered = False  # since the last frame that ended

    def feed(self, chunk: bytes) -> list[tuple[Frame, bytes]]:
        done: list[tuple[Frame, bytes]] = []
        position = 0
        if self._end_pending:
            self._end_pending = False
            if chunk[:1] == _CARRIAGE_RETURN:
                done.append(self._end())
                position = 1
            else:
                self._stray_end()
        while position < len(chunk):
            if not self.in_frame:
                start = chunk.find(START_BLOCK, position)
                if start < 0:
                    break  # bytes between frames carry nothing: ignore them
                self._start()
                position = start + 1
                continue
            position = self._read_in_frame(chunk, position, done)
        return done

    def _read_in_frame(self, chunk: bytes, position: int, done: list[tuple[Frame, bytes]]) -> int:
        """Take ``chunk`` from ``position`` into the open frame; where to go on reading."""
        end = chunk.find(_END_OF_DATA, position)
        restart = chunk.find(START_BLOCK, position)
        if restart >= 0 and (end < 0 or restart < end):
            # A new frame started before this one ended: the sender lost its place. One AR says
            # so until a frame ends again: junk full of start blocks draws one answer, not one
            # per start block.
            self._append(chunk[position:restart])
            if not self._truncation_answered:
                done.append((Frame.TRUNCATED, bytes(self._buffer[:_HEAD_BYTES]) or self._head))
                self._truncation_answered = True
            self.in_frame = False
            return restart
        piece = chunk[position : end if end >= 0 else len(chunk)]
        self.frame_bytes += len(piece)
        if not self._oversized and self.frame_bytes > self._max:
            self._oversized = True
            self._head = bytes(self._buffer[:_HEAD_BYTES])
            self._buffer.clear()
        self._append(piece)
        if end < 0:
            return len(chunk)
        if end + 1 >= len(chunk):
            self._end_pending = True  # FS must be followed by CR; it may arrive in the next read
            return len(chunk)
        if chunk[end + 1 : end + 2] != _CARRIAGE_RETURN:
            self._stray_end()
            return end + 1
        done.append(self._end())
        return end + 2

    def _start(self) -> None:
        self.in_frame, self._oversized, self._head, self.frame_bytes = True, False, b"", 0
        self._buffer.clear()

    def _end(self) -> tuple[Frame, bytes]:
        self.in_frame = False
        self._truncation_answered = False
        finished = (Frame.OVERSIZED, self._head) if self._oversized else (Frame.MESSAGE, bytes(self._buffer))
        self._buffer.clear()
        return finished

    def _stray_end(self) -> None:
        """An FS inside the message, not followed by CR: keep it as data."""
        self._append(_END_OF_DATA)
        self.frame_bytes += 1

    def _append(self, piece: bytes) -> None:
        if not self._oversized:
            self._buffer += piece
