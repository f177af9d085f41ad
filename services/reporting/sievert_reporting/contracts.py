"""JSON Schemas of the documents reporting sends to the authorities, under ``contracts/reports/``.

Run ``python -m sievert_reporting.contracts`` after changing a document model; a unit test fails
when the checked-in files differ. The extension is ``.jsonschema`` because the shared contract
test owns every ``*.json`` under ``contracts/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sievert_reporting.domain.documents import document_schemas

REPORTS_DIR = Path(__file__).resolve().parents[3] / "contracts" / "reports"


def generate() -> dict[str, str]:
    return {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in document_schemas().items()
    }


def write(target: Path = REPORTS_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = target / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}", file=sys.stderr)
