"""``sievert-classifier`` / ``python -m sievert_classifier``: run the classifier service."""

from __future__ import annotations

from sievert_classifier.bootstrap import build
from sievert_shared.serve import serve


def main() -> None:
    runtime, app = build()
    serve("classifier", runtime, app)


if __name__ == "__main__":
    main()
