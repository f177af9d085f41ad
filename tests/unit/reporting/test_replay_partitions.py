"""Which partitions each replay process takes: partition p of every topic to one process, since
each holds the same streams; topics that do not line up go to one process."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from sievert_reporting.entrypoints.replay import affordable_workers, partition_groups


def tps(topics: dict[str, int]) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for topic, count in topics.items() for p in range(count)]


def numbers(groups: list[list[TopicPartition]]) -> list[dict[str, list[int]]]:
    """Each group as topic -> its partitions."""
    out = []
    for group in groups:
        by_topic: dict[str, list[int]] = {}
        for tp in group:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        out.append(by_topic)
    return out


@pytest.mark.parametrize(
    ("topics", "workers", "expected"),
    [
        pytest.param(
            {"a": 3, "b": 3},
            3,
            [{"a": [0], "b": [0]}, {"a": [1], "b": [1]}, {"a": [2], "b": [2]}],
            id="one-process-per-partition",
        ),
        pytest.param(
            {"a": 3, "b": 3}, 2, [{"a": [0, 2], "b": [0, 2]}, {"a": [1], "b": [1]}], id="fewer-processes"
        ),
        pytest.param(
            {"a": 2, "b": 2}, 8, [{"a": [0], "b": [0]}, {"a": [1], "b": [1]}], id="at-most-one-per-partition"
        ),
        pytest.param({"a": 3, "b": 3}, 1, [{"a": [0, 1, 2], "b": [0, 1, 2]}], id="one-process"),
        pytest.param({"a": 3, "b": 2}, 4, [{"a": [0, 1, 2], "b": [0, 1]}], id="counts-differ-one-process"),
        pytest.param({}, 4, [], id="no-topics"),
    ],
)
def test_partitions_are_grouped_by_number(
    topics: dict[str, int], workers: int, expected: list[dict[str, list[int]]]
) -> None:
    groups = partition_groups(tps(topics), workers)
    assert numbers(groups) == expected
    assert sorted(tp for group in groups for tp in group) == sorted(tps(topics))  # each once


@pytest.mark.parametrize(
    ("memory_mb", "workers"),
    [
        pytest.param(1, 1, id="smallest"),
        pytest.param(95, 1, id="not-enough-for-a-second-interpreter"),
        pytest.param(96, 2, id="a-second-with-16-mb-each"),
        pytest.param(128, 2, id="default"),
        pytest.param(176, 3, id="a-third"),
    ],
)
def test_the_memory_setting_pays_for_the_processes(memory_mb: int, workers: int) -> None:
    assert affordable_workers(memory_mb) == workers
