"""Trust administration forms: what the person typed, as the intake and deadlines APIs take it.

A value that does not parse is sent as typed, so the service names the field in its 422 and the
person sees their own text next to the message (as for the facts form).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: The deadline policy's fields (deadlines' PUT /v1/trusts/{trust}/deadline-policy).
POLICY_REMINDERS: tuple[tuple[str, str], ...] = (
    ("notification_reminders", "Reminders before the notification is due (days)"),
    ("report_reminders", "Reminders before the investigation report is due (days)"),
    ("local_investigation_reminders", "Reminders before the local investigation is due (days)"),
)


def day_list(raw: str) -> list[int] | str:
    """'7, 3, 1' -> [7, 3, 1]; '' -> []; anything else as typed."""
    parts = [p for p in raw.replace(",", " ").split() if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        return raw


def policy_body(form: Mapping[str, str]) -> dict[str, Any]:
    days = form.get("local_investigation_days", "").strip()
    body: dict[str, Any] = {"local_investigation_days": int(days) if days.isdigit() else days}
    for name, _label in POLICY_REMINDERS:
        body[name] = day_list(form.get(name, ""))
    return body


def policy_form_values(policy: Mapping[str, Any]) -> dict[str, str]:
    """The policy as the form shows it."""
    values = {"local_investigation_days": str(policy.get("local_investigation_days", ""))}
    for name, _label in POLICY_REMINDERS:
        values[name] = ", ".join(str(d) for d in policy.get(name) or [])
    return values


def field_messages(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A service's 422 ``errors`` ({path: 'body/<field>[/<index>]', message}) by field name."""
    messages: dict[str, str] = {}
    for error in errors:
        path = [p for p in str(error.get("path", "")).split("/") if p and p != "body"]
        name = path[0] if path else "request"
        message = str(error.get("message", "invalid"))
        messages[name] = f"{messages[name]}; {message}" if name in messages else message
    return messages


def client_sites(form_items: Sequence[tuple[str, str]]) -> list[str]:
    """The sites ticked for a new client (checkboxes named ``sites``), in the order shown."""
    return [value for key, value in form_items if key == "sites" and value]
