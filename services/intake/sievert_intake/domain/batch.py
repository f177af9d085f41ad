"""A bulk intake file, line by line: NDJSON, one incident report per line.

Pure: bytes in, lines out. Each line is judged alone, so a bad line is answered for itself and
never costs the good ones: a NUL byte, an unpaired surrogate, nesting too deep or text that is
not one JSON object makes that line's problem (naming the line and, where it can, the field),
with the same checks the input guard applies to a whole body elsewhere. What refuses the whole
file is only what leaves nothing to answer line by line: no line at all, or more lines than the
limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sievert_shared.input_guard import json_depth_exceeds, may_hold_unstorable, unstorable_strings


class BatchRefusedError(Exception):
    """The file as a whole is refused; ``status`` is the HTTP answer (400 or 413)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class LineProblem:
    """Why one line is refused, as a problem document's members."""

    status: int
    title: str
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Line:
    """One non-blank line: its 1-based number in the file, its bytes (the hash of its meaning keys
    a replay), and either its JSON object or its problem."""

    number: int
    raw: bytes
    value: dict[str, Any] | None
    problem: LineProblem | None = None


def split_lines(body: bytes, *, max_lines: int, max_depth: int) -> list[Line]:
    """The file's non-blank lines, each parsed or refused. Blank lines are skipped but counted,
    so a line's number is the one an editor shows."""
    lines: list[Line] = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        if len(lines) == max_lines:
            raise BatchRefusedError(413, f"a batch holds at most {max_lines} lines")
        lines.append(parse_line(number, raw, max_depth))
    if not lines:
        raise BatchRefusedError(400, "the body holds no line: send one JSON incident report per line")
    return lines


def parse_line(number: int, raw: bytes, max_depth: int) -> Line:
    if b"\x00" in raw:
        return _refused(
            number, raw, 422, "contains a NUL byte, which cannot be stored", "unstorable_character"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _refused(number, raw, 400, "is not UTF-8", "not_utf8")
    if json_depth_exceeds(raw, max_depth):
        return _refused(number, raw, 400, f"is JSON nested deeper than {max_depth} levels", "too_deep")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return _refused(number, raw, 400, "is not JSON", "json_invalid")
    if not isinstance(value, dict):
        return _refused(number, raw, 422, "is not a JSON object (one incident report)", "object_type")
    found = list(unstorable_strings(value, "body")) if may_hold_unstorable(raw) else []
    if found:
        errors = [{"path": path, "message": why, "type": "unstorable_character"} for path, why in found]
        detail = f"line {number}: {len(errors)} field(s) hold characters that cannot be stored"
        return Line(number, raw, None, LineProblem(422, "Invalid request", detail, errors))
    return Line(number, raw, value)


def _refused(number: int, raw: bytes, status: int, why: str, kind: str) -> Line:
    title = "Bad request" if status == 400 else "Invalid request"
    errors = [{"path": "body", "message": f"line {number} {why}", "type": kind}]
    return Line(number, raw, None, LineProblem(status, title, f"line {number} {why}", errors))
