"""Activity counts a trust loads for rates per 1,000 examinations (annual report): parsed and
checked here, from CSV or JSON, before anything is stored. Pure."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sievert_shared.errors import UnprocessableError
from sievert_shared.facts import Modality

_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
COLUMNS = ("site", "modality", "examinations")


@dataclass(frozen=True)
class ActivityCount:
    site: str
    modality: str
    examinations: int


class InvalidActivityCountsError(UnprocessableError):
    title = "Invalid activity counts"


class BadActivityError(InvalidActivityCountsError):
    """Rows that are not activity counts, every one named."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} bad activity row(s)", errors=errors)
        self.errors = errors


def parse_csv(text: str) -> list[ActivityCount]:
    """CSV with a header ``site,modality,examinations`` (the CLI's ``--activity`` file)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadActivityError([{"path": "header", "message": f"missing column(s): {', '.join(missing)}"}])
    return parse_rows(reader, first_row=2)  # row 1 is the header


def parse_rows(rows: Iterable[Mapping[str, Any]], *, first_row: int = 0) -> list[ActivityCount]:
    """Every row is checked and every error reported; a site and modality given twice is an error,
    since which count to keep would be a guess."""
    counts: list[ActivityCount] = []
    errors: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    modalities = {m.value for m in Modality}
    for number, row in enumerate(rows, start=first_row):
        site, modality, raw = (str(row.get(c, "") or "").strip() for c in COLUMNS)
        where = f"items/{number}" if first_row == 0 else f"row {number}"
        if not _SITE.match(site):
            errors.append({"path": f"{where}/site", "message": "a site id such as RXX01"})
        if modality not in modalities:
            errors.append({"path": f"{where}/modality", "message": f"one of {', '.join(sorted(modalities))}"})
        if not raw.isdigit():
            errors.append({"path": f"{where}/examinations", "message": "a whole number >= 0"})
        elif (site, modality) in seen:
            errors.append({"path": where, "message": f"{site}/{modality} given twice"})
        else:
            seen.add((site, modality))
            counts.append(ActivityCount(site, modality, int(raw)))
    if errors:
        raise BadActivityError(errors)
    return counts
