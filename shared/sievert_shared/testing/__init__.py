"""Tools for running Sievert on a developer's machine, never imported by a service.

``devstack`` starts the four services as local processes. It lives in the package rather than
under ``tests/`` because ``make demo`` (``scripts/demo.py``) and the benchmarks use it too, and
they run as plain scripts that should not reach into the test tree.
"""
