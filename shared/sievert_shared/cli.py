"""``sievert``: one command line for every service's tools.

Services contribute subcommands through the ``sievert.commands`` entry point group (see
pyproject.toml), so this module never imports a service.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sievert", description="Sievert: IR(ME)R radiation incident workflow"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for entry in sorted(entry_points(group="sievert.commands"), key=lambda e: e.name):
        register = entry.load()
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
