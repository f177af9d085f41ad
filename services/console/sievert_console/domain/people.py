"""Who is signed in, and which actions the console offers them.

The offers are hints for what to show: the APIs decide. A person whose role may not act is
refused by the service (403), and the console says so; it never acts on anyone's behalf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sievert_console.domain.labels import ROLES, label

# The services' route rules, as documented in README.md ("Who may call"): intake amendments by
# RP leads; submissions recorded by RP leads and trust admins (deadlines); notifications drafted
# and issued by RP leads (reporting); reads by RP leads, trust admins (reporting) and auditors;
# tasks assigned and completed by RP leads and trust admins (deadlines).
AMEND = frozenset({"rp_lead"})
RECORD_SUBMISSION = frozenset({"rp_lead", "trust_admin"})
DRAFT_AND_ISSUE = frozenset({"rp_lead"})
READ_QUEUE = frozenset({"rp_lead", "auditor", "trust_admin"})
ACT_ON_TASKS = frozenset({"rp_lead", "trust_admin"})


@dataclass(frozen=True)
class Person:
    subject: str
    name: str
    trust: str
    roles: tuple[str, ...]
    via: str  # "development" or "oidc"

    def may(self, action: Iterable[str]) -> bool:
        return bool(set(self.roles) & set(action))

    @property
    def roles_label(self) -> str:
        return ", ".join(label(ROLES, r) for r in self.roles) or "no Sievert role"

    def to_session(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "name": self.name,
            "trust": self.trust,
            "roles": list(self.roles),
            "via": self.via,
        }

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> Person:
        return cls(
            subject=str(data["subject"]),
            name=str(data["name"]),
            trust=str(data["trust"]),
            roles=tuple(str(r) for r in data.get("roles", ())),
            via=str(data.get("via", "development")),
        )


def roles_from_claim(value: Any, known: Sequence[str] = tuple(ROLES)) -> tuple[str, ...]:
    """Sievert roles from an identity provider's claim: a list, or a space- or comma-separated
    string; names Sievert does not know are dropped (the provider serves other systems too)."""
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = []
    seen: list[str] = []
    for item in items:
        if item in known and item not in seen:
            seen.append(item)
    return tuple(seen)
