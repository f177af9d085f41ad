"""``sievert-deadlines`` / ``python -m sievert_deadlines``: run the deadlines service."""

from __future__ import annotations

from sievert_deadlines.bootstrap import build
from sievert_shared.serve import serve


def main() -> None:
    runtime, app, _ = build()
    serve("deadlines", runtime, app)


if __name__ == "__main__":
    main()
