"""Reporting's HTTP API: one router per resource (``ROUTERS`` in ``app``), sharing the
dependencies of ``deps``."""
