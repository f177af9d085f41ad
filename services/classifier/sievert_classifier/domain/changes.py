"""What a new decision changes compared with the last one (pure)."""

from __future__ import annotations

import datetime as dt

from sievert_shared.decision import ClassificationDecision, notifying_employer_of


def decision_changes(
    before: ClassificationDecision,
    before_discovered_on: dt.date,
    after: ClassificationDecision,
    after_discovered_on: dt.date,
    before_theme_identified_on: dt.date | None = None,
    after_theme_identified_on: dt.date | None = None,
) -> list[str]:
    """Human-readable differences that matter to a trust. An empty list means nothing to announce.

    The missing facts are compared too: an incident that was waiting for a dose and now
    has it is news to the radiation protection lead even if the outcome stays the same.
    """
    changes: list[str] = []

    def compare(name: str, old: object, new: object) -> None:
        if old != new:
            changes.append(f"{name}: {old} -> {new}")

    compare("status", _value(before.status), _value(after.status))
    compare("notifiable", before.notifiable, after.notifiable)
    compare("codes", list(before.codes), list(after.codes))
    compare("authority", _value(before.authority), _value(after.authority))
    compare(
        "other_bodies",
        sorted(b.value for b in before.other_bodies),
        sorted(b.value for b in after.other_bodies),
    )
    compare("csaue", before.csaue, after.csaue)
    compare("licensing_breach", before.licensing_breach, after.licensing_breach)
    compare("ruleset", before.ruleset, after.ruleset)
    compare("needs_facts", sorted(before.needs_facts), sorted(after.needs_facts))
    compare("discovered_on", before_discovered_on.isoformat(), after_discovered_on.isoformat())
    compare("theme_identified_on", before_theme_identified_on, after_theme_identified_on)  # line 278
    # Who of several employers notifies moves people's tasks (inform, or confirm the other's notification).
    compare("notifying_employer", _notifier(before), _notifier(after))
    return changes


def _value(item: object) -> object:
    return getattr(item, "value", item)


def _notifier(decision: ClassificationDecision) -> str | None:
    notifier = notifying_employer_of(decision)
    if notifier is None:
        return None
    name, code = notifier
    return f"{name} ({code})" if code is not None else name
