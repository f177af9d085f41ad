"""A replay held to a small memory setting (small fetches, the fold written in small batches)
rebuilds, on a log spread over several partitions, exactly what the live consumer projected."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

import sievert_reporting.entrypoints.replay
from sievert_classifier.domain import classify
from sievert_reporting.entrypoints.replay import memory_budget, replay
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    DeadlineMet,
    DeadlineScheduled,
    Event,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
    Window,
)
from sievert_shared.kafka import partitions_of
from tests.support.kafka import eventually
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    Reporting,
    assert_consumed_back,
    assert_same_rows,
    ct_facts,
    envelope,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration

INCIDENTS = 12


async def test_a_replay_in_small_batches_gives_the_live_read_model_on_a_multi_partition_log(
    reporting: Reporting,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = reporting.kafka
    now = reporting.clock.now()
    incidents = [uuid.uuid4() for _ in range(INCIDENTS)]
    logged: dict[str, list[EventEnvelope]] = {
        kafka.topics.incidents: [],
        kafka.topics.classifications: [],
        kafka.topics.deadlines: [],
    }
    # Round by round, every incident's event of that round: the incidents' events interleave on
    # each topic, and each incident's stay in its order (one key, one partition).
    for step in range(4):
        for n, incident in enumerate(incidents):
            site = "RXX01" if n % 2 else "RXX02"
            discovered = dt.date(2025, 6, 2) - dt.timedelta(days=n)
            facts = ct_facts(discovered, total_msv=12.0 + n)
            amended = ct_facts(discovered, total_msv=30.0 + n + step)

            def log(
                topic: str,
                event: Event,
                producer: str,
                version: int,
                site: str = site,
                incident: uuid.UUID = incident,
            ) -> None:
                logged[topic].append(envelope(event, incident, site, producer, now, version=version))

            if step == 0:
                log(kafka.topics.incidents, IncidentReported(facts=facts, channel="json"), "intake", 1)
                log(
                    kafka.topics.classifications,
                    IncidentClassified(decision=classify(facts), discovered_on=discovered, facts_version=1),
                    "classifier",
                    1,
                )
                log(
                    kafka.topics.deadlines,
                    DeadlineScheduled(window=Window.NOTIFICATION, due_at=now, discovered_on=discovered),
                    "deadlines",
                    1,
                )
            elif step in (1, 2) and n % 3 != 2:
                # amended twice (stream versions 2 and 3), each reclassified on its facts version
                log(
                    kafka.topics.incidents,
                    IncidentFactsAmended(
                        facts=amended,
                        changed_fields=["total_effective_dose_msv"],
                        reason=f"re-estimated {step}",
                        channel="json",
                    ),
                    "intake",
                    step + 1,
                )
                decision = classify(amended)
                log(
                    kafka.topics.classifications,
                    IncidentReclassified(
                        decision=decision,
                        discovered_on=discovered,
                        facts_version=step + 1,
                        previous_notifiable=decision.notifiable,
                        previous_codes=list(decision.codes),
                        previous_discovered_on=discovered,
                        changes=[f"dose: re-estimated {step}"],
                    ),
                    "classifier",
                    step + 1,
                )
            elif step == 3:
                log(
                    kafka.topics.deadlines,
                    DeadlineMet(window=Window.NOTIFICATION, due_at=now, met_at=now, late=False),
                    "deadlines",
                    2,
                )
                if n % 2:
                    # a reclassification on older facts arriving last: the guard refuses it, live
                    # and in the replay alike
                    log(
                        kafka.topics.classifications,
                        IncidentReclassified(
                            decision=classify(facts),
                            discovered_on=discovered,
                            facts_version=1,
                            previous_notifiable=True,
                            previous_codes=[],
                            previous_discovered_on=discovered,
                            changes=["stale"],
                        ),
                        "classifier",
                        4,
                    )
    for topic, envelopes in logged.items():
        await reporting.publish(topic, envelopes)
    every = [e.event_id for envelopes in logged.values() for e in envelopes]

    url = reporting.settings.database_url.get_secret_value()
    await eventually(lambda: assert_consumed_back(url, also=every), timeout=90)
    incremental = await snapshot(url)
    assert len(incremental["incidents"]) == INCIDENTS

    spread = await partitions_of(kafka, list(logged))
    assert len({tp.partition for tp in spread}) > 1  # the log is over several partitions

    # as the live consumer left it, with the default memory setting ...
    assert await replay(reporting.settings) == len(every)
    rebuilt = await snapshot(url)
    assert_same_rows(incremental, rebuilt)
    assert rebuilt == incremental

    # ... and with the smallest one, two records per fetch, the fold written after every fetch
    # and complete incidents one at a time: slower, the same rows
    assert memory_budget(1).max_rows == 128
    monkeypatch.setattr(sievert_reporting.entrypoints.replay, "FETCH_RECORDS", 2)
    small = reporting.settings.model_copy(update={"replay_memory_mb": 1})
    assert await replay(small, max_rows=1, early_chunk=1) == len(every)
    rebuilt = await snapshot(url)
    assert_same_rows(incremental, rebuilt)
    assert rebuilt == incremental
