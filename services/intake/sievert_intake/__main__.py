"""``sievert-intake`` / ``python -m sievert_intake``: run the intake service."""

from __future__ import annotations

from sievert_intake.bootstrap import build
from sievert_shared.serve import serve


def main() -> None:
    runtime, app = build()
    serve("intake", runtime, app)


if __name__ == "__main__":
    main()
