"""Bulk intake's NDJSON file, line by line (pure): each line parsed or refused for itself."""

from __future__ import annotations

import json

import pytest

from sievert_intake.domain.batch import BatchRefusedError, parse_line, split_lines
from sievert_shared.input_guard import may_hold_unstorable


def _split(body: bytes, max_lines: int = 10) -> list:  # type: ignore[type-arg]
    return split_lines(body, max_lines=max_lines, max_depth=8)


def test_batch_lines_keep_their_numbers_across_blank_lines_and_crlf() -> None:
    body = b'{"a": 1}\r\n\n   \n{"b": 2}\n'
    lines = _split(body)
    assert [(line.number, line.value) for line in lines] == [(1, {"a": 1}), (4, {"b": 2})]
    assert all(line.problem is None for line in lines)


@pytest.mark.parametrize(
    ("raw", "status", "kind"),
    [
        pytest.param(b'{"a": "x\x00y"}', 422, "unstorable_character", id="nul-byte"),
        pytest.param(b"\xff\xfe{}", 400, "not_utf8", id="not-utf8"),
        pytest.param(b'{"a": ', 400, "json_invalid", id="not-json"),
        pytest.param(b"[1, 2]", 422, "object_type", id="not-an-object"),
        pytest.param(b'{"a": ' + b"[" * 9 + b"]" * 9 + b"}", 400, "too_deep", id="too-deep"),
    ],
)
def test_a_bad_batch_line_is_refused_naming_its_line_and_the_others_survive(
    raw: bytes, status: int, kind: str
) -> None:
    lines = _split(b'{"ok": 1}\n' + raw + b'\n{"ok": 3}')
    good_first, bad, good_last = lines
    assert (good_first.value, good_last.value) == ({"ok": 1}, {"ok": 3})
    assert bad.number == 2 and bad.value is None and bad.problem is not None
    assert bad.problem.status == status
    assert bad.problem.errors[0]["type"] == kind
    assert "line 2" in bad.problem.detail


def test_an_escaped_nul_or_lone_surrogate_in_a_batch_line_names_the_field() -> None:
    raw = json.dumps({"facts": {"equipment_model": "x\u0000"}, "site": "\ud800"}).encode()
    (line,) = _split(raw)
    assert line.problem is not None and line.problem.status == 422
    assert {e["path"] for e in line.problem.errors} == {"body/facts/equipment_model", "body/site"}
    assert "line 1" in line.problem.detail


@pytest.mark.parametrize("body", [b"", b"\n\n  \r\n"], ids=["empty", "blank-lines"])
def test_an_empty_batch_is_refused_400(body: bytes) -> None:
    with pytest.raises(BatchRefusedError) as refused:
        _split(body)
    assert refused.value.status == 400


def test_a_batch_over_the_line_limit_is_refused_413() -> None:
    assert len(_split(b"{}\n" * 3, max_lines=3)) == 3
    with pytest.raises(BatchRefusedError) as refused:
        _split(b"{}\n" * 4, max_lines=3)
    assert refused.value.status == 413 and "3 lines" in refused.value.detail


def test_a_batch_line_is_walked_for_unstorable_strings_only_when_an_escape_could_give_one() -> None:
    assert may_hold_unstorable(rb'{"a": "x\u0000"}')
    assert may_hold_unstorable(rb'{"a": "\uD83D"}') and may_hold_unstorable(rb'{"a": "\udc00"}')
    assert not may_hold_unstorable('{"a": "café \\u00e9 \\n"}'.encode())
    # a line with no such escape is stored as parsed; one with a harmless escape is walked, and kept
    plain = parse_line(1, '{"facts": {"equipment_model": "Tête"}}'.encode(), 64)
    escaped = parse_line(2, rb'{"facts": {"equipment_model": "T\u00eate"}}', 64)
    assert plain.problem is None and escaped.problem is None
    assert plain.value == escaped.value
