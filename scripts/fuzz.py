"""``make fuzz``: schemathesis over the four services' OpenAPI documents and malformed frames to
the MLLP listener, against the local stack, with a fixed seed. Prints the counts; exits 1 on any
5xx, conformance failure, crash or hang (docs/reliability.md has the figures of the last run).

    python scripts/fuzz.py [--max-examples N] [--mllp-frames N] [--seed S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from sievert_shared.testing.fuzz import LONG, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, help="per operation, for every service")
    parser.add_argument("--mllp-frames", type=int, default=LONG.mllp_frames)
    parser.add_argument("--seed", type=int, default=LONG.seed)
    parser.add_argument("--keep", type=Path, help="keep the reports and service logs here")
    args = parser.parse_args()
    budget = dataclasses.replace(LONG, mllp_frames=args.mllp_frames, seed=args.seed)
    if args.max_examples is not None:
        budget = dataclasses.replace(budget, max_examples=args.max_examples, per_service={})
    with tempfile.TemporaryDirectory(prefix="sievert-fuzz-") as scratch:
        work_dir = args.keep or Path(scratch)
        work_dir.mkdir(parents=True, exist_ok=True)
        report = run(budget, work_dir)
        for service in report.services:
            if not service.ok:
                print(f"--- {service.name} (schemathesis exit {service.exit_code}) ---")
                print(service.output[-20000:])
    for name, lines in report.unhandled.items():
        for line in lines[:5]:
            print(f"{name}: {line[:400]}")
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
