"""Lookups behind authentication and site checks are remembered for a while, found or not."""

from __future__ import annotations

from sievert_intake.adapters.trust_admin import _Remembered


async def test_an_answer_is_remembered_until_it_expires_or_is_forgotten() -> None:
    clock = [0.0]
    loads: list[str] = []

    async def load(key: str) -> str | None:
        loads.append(key)
        return None if key == "unknown" else key.upper()

    remembered: _Remembered[str | None] = _Remembered(5.0, lambda: clock[0])
    assert await remembered.get("raa-1", load) == "RAA-1"
    assert await remembered.get("unknown", load) is None
    clock[0] = 4.9
    assert await remembered.get("raa-1", load) == "RAA-1"
    assert await remembered.get("unknown", load) is None  # a miss is remembered too
    assert loads == ["raa-1", "unknown"]
    remembered.forget("raa-1")
    await remembered.get("raa-1", load)
    clock[0] = 10.0
    await remembered.get("unknown", load)
    assert loads == ["raa-1", "unknown", "raa-1", "unknown"]


async def test_it_stays_bounded_whatever_keys_are_asked_for() -> None:
    async def load(key: str) -> str:
        return key

    remembered: _Remembered[str] = _Remembered(60.0, lambda: 0.0, limit=3)
    for n in range(10):
        await remembered.get(f"k{n}", load)
    assert len(remembered._answers) <= 3
