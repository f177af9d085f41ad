"""The short form of ``make fuzz``: schemathesis over the four services' OpenAPI documents and
malformed MLLP frames, as processes against the real stack, with the fixed seed. It fails on any
5xx, any answer the documents do not describe, a crash, a hang, or an error in a service's log
that nobody answered for. The long form (``scripts/fuzz.py``) generates at least 5,000 cases per
service; its last figures are in docs/reliability.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sievert_shared.testing.fuzz import SHORT, run
from tests.support.infra import Infra

pytestmark = pytest.mark.integration


def test_fuzz_short_no_5xx_no_undocumented_answer_no_crash_no_hang(infra: Infra, tmp_path: Path) -> None:
    environ = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "INTAKE_DATABASE_URL": infra.admin_database_url,
    }
    report = run(SHORT, tmp_path, environ)
    for line in report.lines():
        print(line)
    failed = {s.name: s.output[-4000:] for s in report.services if not s.ok}
    assert not failed, failed
    assert all(s.cases > 0 for s in report.services), report.lines()
    assert report.crashed == []
    assert report.unhandled == {name: [] for name in report.unhandled}
    assert (report.mllp.frames, report.mllp.hangs) == (SHORT.mllp_frames, 0)
    assert report.mllp.answered + report.mllp.closed == SHORT.mllp_frames
