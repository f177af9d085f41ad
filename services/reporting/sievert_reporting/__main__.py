"""``sievert-reporting`` / ``python -m sievert_reporting``: run the reporting service."""

from __future__ import annotations

from sievert_reporting.bootstrap import build
from sievert_shared.serve import serve


def main() -> None:
    runtime, app = build()
    serve("reporting", runtime, app)


if __name__ == "__main__":
    main()
