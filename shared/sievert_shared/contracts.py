"""The published contract: JSON Schemas for the envelope and every event version, and an
AsyncAPI 3 document of topics, keys and messages. Generated from the models, checked in under
``contracts/``, and compared in a test so the two never drift apart.

Run ``python -m sievert_shared.contracts`` to regenerate after changing an event.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sievert_shared.envelope import ENVELOPE_VERSION, EventEnvelope
from sievert_shared.events import ALL_EVENTS, Event
from sievert_shared.facts import IncidentFacts
from sievert_shared.topics import Topics

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"

_TOPIC_DESCRIPTIONS = {
    "incidents": "Intake's facts about incidents. Key: incident id. Producer: intake.",
    "classifications": "The classifier's decisions with their reasons. Key: incident id.",
    "deadlines": "Notification and report windows: scheduled, approaching, missed, overdue, met.",
    "submissions": "Regulator submissions: notification and investigation report. Key: incident id.",
    "cases": (
        "A case's life after its decision (key: incident id): local investigation close-out and the "
        "authority's correspondence and closure (producer: reporting); withdrawal, case closure and "
        "retention, and people's tasks (producer: deadlines)."
    ),
    "themes": (
        "A trust's thematic reviews: ThemeOpened and IncidentLinkedToTheme (key: theme id), and "
        "ThemeIndividualsCounted (key: incident id) that the classifier consumes for code M. Producer: reporting."
    ),
    "shared_themes": (
        "Anonymised theme summaries shared across trusts (key: theme id): counts by modality, code and "
        "equipment type, never an incident id. Consumed by the reporting service of consenting trusts."
    ),
    "dashboard": (
        "Reporting's changes for dashboards, no polling needed: SubmissionStatusChanged (key: incident id), "
        "DeadlineCountsChanged (key: uuid5 of the trust), ThemeUpdated (key: theme id)."
    ),
    "doses": (
        "Occupational and public dose records from intake: DoseRecordReceived and DoseRecordCorrected "
        "(key: uuid5 of the trust and the person's pseudonym, so one person's records keep their order). "
        "Consumed by the classifier, which keeps each person's annual totals."
    ),
    "dead_letter": "Events a consumer could not use; headers dlq_reason, dlq_consumer, dlq_source.",
}


def schema_filename(event: type[Event]) -> str:
    return f"events/{event.event_type}.v{event.schema_version}.json"


def event_schema(event: type[Event]) -> dict[str, Any]:
    schema = event.model_json_schema(mode="serialization")
    schema["$id"] = f"https://sievert.example/contracts/{schema_filename(event)}"
    schema["title"] = event.event_type
    schema["x-schema-version"] = event.schema_version
    return schema


def asyncapi() -> dict[str, Any]:
    topics = Topics("{prefix}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    by_topic: dict[str, list[type[Event]]] = {}
    for event in ALL_EVENTS:
        by_topic.setdefault(event.topic, []).append(event)  # type: ignore[attr-defined]
    for attr, description in _TOPIC_DESCRIPTIONS.items():
        channel_messages = {}
        for event in by_topic.get(attr, []):
            message_name = f"{event.event_type}V{event.schema_version}"
            messages[message_name] = {
                "name": event.event_type,
                "title": f"{event.event_type} v{event.schema_version}",
                "summary": (event.__doc__ or "").strip().splitlines()[0] if event.__doc__ else "",
                "contentType": "application/json",
                "headers": {"$ref": "#/components/schemas/KafkaHeaders"},
                "payload": {
                    "allOf": [
                        {"$ref": f"./envelope.v{ENVELOPE_VERSION}.json"},
                        {"properties": {"payload": {"$ref": f"./{schema_filename(event)}"}}},
                    ]
                },
                "bindings": {
                    "kafka": {"key": {"type": "string", "format": "uuid", "description": "incident id"}}
                },
            }
            channel_messages[message_name] = {"$ref": f"#/components/messages/{message_name}"}
        channels[attr] = {
            "address": getattr(topics, attr),
            "description": description,
            "messages": channel_messages,
        }
        if channel_messages:
            operations[f"receive_{attr}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{attr}"},
                "summary": f"Subscribe to {attr}",
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Sievert event log",
            "version": f"envelope-v{ENVELOPE_VERSION}",
            "description": (
                "Topics and events of Sievert, the IR(ME)R incident workflow. Every message value is "
                "an envelope (envelope.v1.json) whose payload matches "
                "events/<event_type>.v<schema_version>.json. "
                "Topic names start with a deployment prefix, 'sievert' by default."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "KafkaHeaders": {
                    "type": "object",
                    "properties": {
                        "event_type": {"type": "string"},
                        "schema_version": {"type": "string"},
                        "correlation_id": {"type": "string"},
                        "content-type": {"type": "string"},
                    },
                }
            },
        },
    }


def generate() -> dict[str, str]:
    """Every contract file, by path relative to ``contracts/``, as text."""

    def dump(obj: Any) -> str:
        return json.dumps(obj, indent=2, sort_keys=True) + "\n"

    envelope = EventEnvelope.model_json_schema(mode="serialization")
    envelope["$id"] = f"https://sievert.example/contracts/envelope.v{ENVELOPE_VERSION}.json"
    facts = IncidentFacts.model_json_schema(mode="validation")
    facts["$id"] = "https://sievert.example/contracts/incident-facts.json"
    facts["description"] = (
        "Incident facts as POST /v1/incidents accepts them and IncidentReported/IncidentFactsAmended carry "
        "them. Its shape is versioned with those events: a change bumps their schema_version."
    )
    files = {
        f"envelope.v{ENVELOPE_VERSION}.json": dump(envelope),
        "incident-facts.json": dump(facts),
        "asyncapi.json": dump(asyncapi()),
    }
    for event in ALL_EVENTS:
        files[schema_filename(event)] = dump(event_schema(event))
    return files


def write(target: Path = CONTRACTS_DIR) -> list[Path]:
    written = []
    for relative, text in generate().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}", file=sys.stderr)
