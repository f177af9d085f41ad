"""What each replay process takes: whole partitions by number (partition p of every topic holds
the same streams), as many for each process, and the numbers left over read by every process,
each applying the records whose key falls to it; topics that do not line up go to one process."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from sievert_reporting.entrypoints.replay import Portion, affordable_workers, split_partitions


def tps(topics: dict[str, int]) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for topic, count in topics.items() for p in range(count)]


def numbers(portions: list[Portion]) -> list[dict[str, list[int]]]:
    """Each portion's partitions as topic -> its partition numbers."""
    out = []
    for portion in portions:
        by_topic: dict[str, list[int]] = {}
        for tp in portion.partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        out.append(by_topic)
    return out


@pytest.mark.parametrize(
    ("topics", "workers", "expected", "shared"),
    [
        pytest.param(
            {"a": 3, "b": 3},
            3,
            [{"a": [0], "b": [0]}, {"a": [1], "b": [1]}, {"a": [2], "b": [2]}],
            set(),
            id="one-process-per-partition",
        ),
        pytest.param(
            {"a": 3, "b": 3},
            2,
            [{"a": [0, 2], "b": [0, 2]}, {"a": [1, 2], "b": [1, 2]}],
            {2},
            id="fewer-processes-share-the-partition-left-over",
        ),
        pytest.param(
            {"a": 4, "b": 4},
            2,
            [{"a": [0, 2], "b": [0, 2]}, {"a": [1, 3], "b": [1, 3]}],
            set(),
            id="whole-partitions-when-they-divide",
        ),
        pytest.param(
            {"a": 5},
            3,
            [{"a": [0, 3, 4]}, {"a": [1, 3, 4]}, {"a": [2, 3, 4]}],
            {3, 4},
            id="two-left-over",
        ),
        pytest.param(
            {"a": 2, "b": 2},
            8,
            [{"a": [0], "b": [0]}, {"a": [1], "b": [1]}],
            set(),
            id="at-most-one-per-partition",
        ),
        pytest.param({"a": 3, "b": 3}, 1, [{"a": [0, 1, 2], "b": [0, 1, 2]}], set(), id="one-process"),
        pytest.param(
            {"a": 3, "b": 2}, 4, [{"a": [0, 1, 2], "b": [0, 1]}], set(), id="counts-differ-one-process"
        ),
        pytest.param({}, 4, [], set(), id="no-topics"),
    ],
)
def test_replay_partitions_are_split_by_number(
    topics: dict[str, int], workers: int, expected: list[dict[str, list[int]]], shared: set[int]
) -> None:
    portions = split_partitions(tps(topics), workers)
    assert numbers(portions) == expected
    assert [(p.index, p.of) for p in portions] == [(i, len(portions)) for i in range(len(portions))]
    assert all(p.shared == shared for p in portions)
    # every partition read; each one not shared by exactly one process
    read = [tp for portion in portions for tp in portion.partitions]
    assert set(read) == set(tps(topics))
    assert sorted(tp for tp in read if tp.partition not in shared) == sorted(
        tp for tp in tps(topics) if tp.partition not in shared
    )


@pytest.mark.parametrize(("partitions", "workers"), [(3, 2), (5, 3), (5, 2), (4, 3), (2, 2)])
def test_replay_processes_apply_even_shares_of_a_keyed_log(partitions: int, workers: int) -> None:
    """Records placed on partitions as the producers place them (murmur2 of the key): every
    record is applied by exactly one process, a stream's records all by the same one, and each
    process applies about as many as the others. By whole partitions alone, three partitions
    over two processes gave one of them twice the other's records."""
    partitioner = DefaultPartitioner()
    numbers = list(range(partitions))
    portions = split_partitions(tps({"incidents": partitions, "deadlines": partitions}), workers)
    applied = [0] * len(portions)
    for _ in range(30_000):
        key = str(uuid.uuid4()).encode()
        partition = partitioner(key, numbers, numbers)
        # the same stream on both topics: the same partition, so the same process
        takers = [
            i
            for i, portion in enumerate(portions)
            for topic in ("incidents", "deadlines")
            if TopicPartition(topic, partition) in portion.partitions and portion.applies(partition, key)
        ]
        assert len(takers) == 2 and takers[0] == takers[1]
        applied[takers[0]] += 1
    assert len(portions) == min(workers, partitions)
    assert max(applied) / min(applied) < 1.05, applied


def test_a_keyless_record_of_a_shared_partition_goes_to_the_first_process() -> None:
    first, second = split_partitions(tps({"a": 3}), 2)
    assert first.applies(2, None) and not second.applies(2, None)
    assert first.applies(0, None) and second.applies(1, None)  # whole partitions: every record


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
