"""Where the installed ``sievert.commands`` entry point ``report`` still points until the package
is reinstalled (``make install`` does it when pyproject.toml changes); pyproject.toml names
``sievert_reporting.entrypoints.cli`` now. Delete this module once every environment has been
reinstalled."""

from sievert_reporting.entrypoints.cli import register_report

__all__ = ["register_report"]
