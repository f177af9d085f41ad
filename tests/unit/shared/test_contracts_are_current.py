"""The checked-in contracts are exactly what the models generate: a changed event shape without a
regenerated (and reviewed) schema fails here."""

from __future__ import annotations

import json

from sievert_shared.contracts import CONTRACTS_DIR, generate
from sievert_shared.events import ALL_EVENTS, REGISTRY


def test_checked_in_contracts_match_the_models() -> None:
    expected = generate()
    stale = [
        name
        for name, text in expected.items()
        if not (CONTRACTS_DIR / name).exists() or (CONTRACTS_DIR / name).read_text() != text
    ]
    assert not stale, f"regenerate with `python -m sievert_shared.contracts`: {stale}"
    on_disk = {str(p.relative_to(CONTRACTS_DIR)) for p in CONTRACTS_DIR.rglob("*.json")}
    assert on_disk == set(expected), f"contracts without a model: {sorted(on_disk - set(expected))}"


def test_every_event_has_a_schema_and_a_channel_in_asyncapi() -> None:
    doc = json.loads((CONTRACTS_DIR / "asyncapi.json").read_text())
    message_names = {m["name"] for m in doc["components"]["messages"].values()}
    assert message_names == {e.event_type for e in ALL_EVENTS}
    for event in ALL_EVENTS:
        assert REGISTRY.model_for(event.event_type, event.schema_version) is event
        assert (CONTRACTS_DIR / f"events/{event.event_type}.v{event.schema_version}.json").exists()
