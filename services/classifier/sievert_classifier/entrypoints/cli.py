"""``sievert classify``: classify incident facts from JSON lines, one decision per line.

Reads ``IncidentFacts`` as JSON lines from FILE (or stdin when FILE is omitted or
``-``) and writes, for each non-blank line in order, either the
``ClassificationDecision`` as one JSON line, or an error line such as::

    {"line": 3, "error": "invalid incident facts",
     "fields": [{"path": "total_effective_dose_msv", "message": "Input should be ..."}]}

A bad line does not stop the rest. Exit status: 0 when every line was classified,
1 when any line failed, 2 when FILE cannot be read.

The top-level ``sievert`` command picks this up through ``register`` (entry point
``sievert.commands``); ``python -m sievert_classifier.entrypoints.cli classify FILE`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from pydantic import ValidationError

from sievert_classifier.domain import classify
from sievert_shared.facts import IncidentFacts

__all__ = ["classify_lines", "main", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``classify`` subcommand to the ``sievert`` command line."""
    parser = subparsers.add_parser(
        "classify",
        help="classify incident facts (JSON lines) against the IR(ME)R notification criteria",
        description=(
            "Read incident facts as JSON lines from FILE or stdin and write one decision, or one "
            "error naming the line and the fields, per non-blank line. Exit status 1 if any line failed."
        ),
    )
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="JSON lines of incident facts; stdin when omitted or '-'",
    )
    parser.add_argument(
        "--theme-individuals",
        type=_positive_int,
        default=None,
        metavar="N",
        help="individuals across a theme found by a thematic review (more than one gives code M)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Classify every line of ``args.file``; the exit status of the command."""
    if args.file == "-":
        return classify_lines(sys.stdin, sys.stdout, theme_individuals=args.theme_individuals)
    try:
        with open(args.file, encoding="utf-8") as source:
            return classify_lines(source, sys.stdout, theme_individuals=args.theme_individuals)
    except OSError as error:
        print(f"sievert classify: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2


def classify_lines(lines: Iterable[str], out: TextIO, *, theme_individuals: int | None = None) -> int:
    """Write a decision or an error for each non-blank line; 1 if any line failed, else 0."""
    status = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            facts = IncidentFacts.model_validate_json(line)
        except ValidationError as error:
            status = 1
            out.write(json.dumps(_error_line(number, error)) + "\n")
            continue
        out.write(classify(facts, theme_individuals=theme_individuals).model_dump_json() + "\n")
    out.flush()
    return status


def _error_line(number: int, error: ValidationError) -> dict[str, Any]:
    details = error.errors(include_url=False, include_context=False, include_input=False)
    if any(detail["type"] == "json_invalid" for detail in details):
        message = str(details[0]["msg"]).removeprefix("Invalid JSON: ")
        return {"line": number, "error": f"invalid JSON: {message}", "fields": []}
    fields = [
        {"path": ".".join(str(part) for part in detail["loc"]), "message": detail["msg"]}
        for detail in details
    ]
    return {"line": number, "error": "invalid incident facts", "fields": fields}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m sievert_classifier.entrypoints.cli classify FILE``."""
    parser = argparse.ArgumentParser(prog="sievert", description="Sievert classifier tools")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(subparsers)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
