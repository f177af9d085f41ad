"""Intake's use cases: commands in, ``Accepted`` out, over the adapters (``intake.py``)."""
