"""The IR(ME)R employers involved in an exposure, in words (docs/classifier.md, "Several
employers"): each employer's part and who makes the notification. Input is the ``employers`` fact
as intake answers it; the console words it and never decides it (the classifier and the deadlines
service do, and the tasks follow from them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: An employer's part in the exposure (the shared ``EmployerRole``; a unit test keeps them equal).
EMPLOYER_ROLES: Mapping[str, str] = {
    "referring": "Referring employer",
    "performing": "Performing employer",
    "referring_and_performing": "Referring and performing employer",
}


@dataclass(frozen=True)
class EmployerLine:
    name: str
    role: str
    notifies: bool
    #: this person's own trust (the employer named by the trust's code)
    own: bool


@dataclass(frozen=True)
class Employers:
    lines: tuple[EmployerLine, ...]

    @property
    def notifier(self) -> EmployerLine | None:
        return next((e for e in self.lines if e.notifies), None)

    @property
    def who_notifies(self) -> str:
        """Who makes the Regulation 8(4) notification and sends the report, and who is informed."""
        notifier = self.notifier
        if notifier is None:
            return "No employer is named as the one that notifies."
        others = [e.name for e in self.lines if e is not notifier]
        subject = "This trust" if notifier.own else notifier.name
        informed = f"; {_joined(others)} {'is' if len(others) == 1 else 'are'} informed" if others else ""
        return f"{subject} makes the notification and sends the report{informed}."


def _joined(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def employers_of(facts: Mapping[str, Any], own_trust: str) -> Employers | None:
    """The incident's employers in words; None when the facts name none (one employer: the trust)."""
    named = facts.get("employers") or []
    if not named:
        return None
    return Employers(
        tuple(
            EmployerLine(
                name=str(e.get("name") or ""),
                role=EMPLOYER_ROLES.get(str(e.get("role")), str(e.get("role"))),
                notifies=bool(e.get("notifies")),
                own=e.get("trust_code") == own_trust,
            )
            for e in named
        )
    )
