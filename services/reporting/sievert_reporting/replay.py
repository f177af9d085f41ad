"""Where the installed ``sievert.commands`` entry point ``replay`` still points until the package
is reinstalled (``make install`` does it when pyproject.toml changes); pyproject.toml names
``sievert_reporting.entrypoints.replay`` now. Delete this module once every environment has been
reinstalled."""

from sievert_reporting.entrypoints.replay import register_replay

__all__ = ["register_replay"]
