"""MLLP framing (``<VT> message <FS><CR>``) whatever the chunks a connection's reads return."""

from __future__ import annotations

import pytest

from sievert_intake.entrypoints.mllp_listener import Deframer, Frame

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def frames_of(chunks: list[bytes], max_message_bytes: int = 1024) -> list[tuple[Frame, bytes]]:
    deframer = Deframer(max_message_bytes)
    return [found for chunk in chunks for found in deframer.feed(chunk)]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([VT + b"MSH|A" + FS + CR], [(Frame.MESSAGE, b"MSH|A")], id="one-frame-one-read"),
        pytest.param(
            [VT + b"MSH|A" + FS + CR + VT + b"MSH|B" + FS + CR],
            [(Frame.MESSAGE, b"MSH|A"), (Frame.MESSAGE, b"MSH|B")],
            id="pipelined-frames-one-read",
        ),
        pytest.param([VT + b"MS", b"H|A" + FS, CR], [(Frame.MESSAGE, b"MSH|A")], id="fs-and-cr-in-two-reads"),
        pytest.param(
            [VT + b"MSH|" + FS + b"A" + FS + CR], [(Frame.MESSAGE, b"MSH|\x1cA")], id="stray-fs-is-data"
        ),
        pytest.param(
            [VT + b"MSH|" + FS, b"A" + FS + CR],
            [(Frame.MESSAGE, b"MSH|\x1cA")],
            id="stray-fs-at-the-end-of-a-read",
        ),
        pytest.param(
            [b"noise" + VT + b"MSH|A" + FS + CR + b"\n"], [(Frame.MESSAGE, b"MSH|A")], id="noise-ignored"
        ),
        pytest.param(
            [VT + b"MSH|cut", VT + b"MSH|B" + FS + CR],
            [(Frame.TRUNCATED, b"MSH|cut"), (Frame.MESSAGE, b"MSH|B")],
            id="start-block-inside-a-frame-truncates-it",
        ),
        pytest.param([VT + b"MSH|A"], [], id="unfinished-frame-waits"),
    ],
)
def test_frames_are_found_whatever_the_reads(
    chunks: list[bytes], expected: list[tuple[Frame, bytes]]
) -> None:
    assert frames_of(chunks) == expected


def test_an_oversized_frame_is_dropped_as_it_arrives_keeping_its_head() -> None:
    deframer = Deframer(max_message_bytes=12)
    assert deframer.feed(VT + b"MSH|012345") == []
    assert deframer.feed(b"6789abcdef") == []
    assert deframer._buffer == bytearray()  # nothing of it held past the limit
    assert deframer.feed(b"xyz" + FS + CR + VT + b"MSH|B" + FS + CR) == [
        (Frame.OVERSIZED, b"MSH|012345"),
        (Frame.MESSAGE, b"MSH|B"),
    ]


def test_it_says_when_a_frame_is_open() -> None:
    deframer = Deframer(1024)
    deframer.feed(VT + b"MSH")
    assert deframer.in_frame and deframer.frame_bytes == 3
    deframer.feed(b"|A" + FS + CR)
    assert not deframer.in_frame
