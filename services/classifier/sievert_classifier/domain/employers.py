"""Several IR(ME)R employers: who notifies, and what the others owe (routing and reasons only).

Notification is the employer's duty (guidance lines 43, 51, 216: "As the employer ... you must
notify"); the duty holders include the employer (line 24), in the NHS and the independent sector
alike (line 32). The guidance says nothing of an exposure two employers share, such as an NHS trust
referring and an independent provider performing. Our reading (docs/classifier.md, "Several
employers"): one employer notifies and reports for the exposure, so that the authority gets one
notification and one report with one reference (line 116), and every other employer named is
informed and confirms that notification. The facts name the one that notifies; this rule never
changes whether the incident is notifiable, its codes or its authority, only who acts.
"""

from __future__ import annotations

from sievert_shared.decision import EMPLOYERS_REASON, Citation, Outcome, Reason
from sievert_shared.facts import Employer, EmployerRole, IncidentFacts, notifying_employer

__all__ = ["EMPLOYERS_LINES", "ROLE_WORDS", "employers_reason"]
#: Line 24 (the employer is a duty holder), 32 (NHS and independent sector), 43 and 51
#: (Regulation 8: the employer notifies), 116 (one reference number per notification), 216 (the
#: steps "as the employer", also when "informed about an incident").
EMPLOYERS_LINES = (24, 32, 43, 51, 116, 216)

ROLE_WORDS = {
    EmployerRole.REFERRING: "referring",
    EmployerRole.PERFORMING: "performing",
    EmployerRole.REFERRING_AND_PERFORMING: "referring and performing",
}


def _named(employer: Employer) -> str:
    return f"{employer.name} ({ROLE_WORDS[employer.role]})"


def _is_trust(employer: Employer, trust: str | None) -> bool:
    return trust is not None and employer.trust_code == trust  # trust codes are exact identifiers


def employers_reason(facts: IncidentFacts, reporting_trust: str | None = None) -> Reason | None:
    """The reason naming who notifies when the facts name employers; None when they name none.

    With ``reporting_trust`` (the trust the incident was reported under) the reason also says
    whether that trust notifies (and informs the others) or its duty rests with the other
    employer, whose notification it must confirm."""
    employers = facts.employers
    notifier = notifying_employer(employers)
    if not employers or notifier is None:
        return None
    others = [e for e in employers if e is not notifier]
    text = (
        f"Notification is the employer's duty under Regulation 8(4); with several employers one notifies "
        f"and reports for the exposure (our reading). {_named(notifier)} notifies the enforcing authority "
        "and sends the 12-week report"
    )
    reporting_notifies: bool | None = None
    if reporting_trust is not None:
        reporting_notifies = _is_trust(notifier, reporting_trust)
    if others and reporting_notifies is not False:
        text += f", and informs the other employer(s): {', '.join(_named(e) for e in others)}."
    elif others:
        text += (
            f". The reporting trust {reporting_trust}'s notification duty for this exposure rests with "
            f"{notifier.name}: it confirms that {notifier.name} has notified, and records the authority's "
            "reference."
        )
    else:
        text += "."
    return Reason(
        code=EMPLOYERS_REASON,  # the name of the rule, as 'authority' is
        criterion=text,
        citation=Citation(lines=EMPLOYERS_LINES),
        facts={
            "employers_named": len(employers),
            "notifying_employer": notifier.name,
            "notifying_trust_code": notifier.trust_code,
            "notifying_role": notifier.role.value,
            "reporting_trust": reporting_trust,
            "reporting_trust_notifies": reporting_notifies,
        },
        outcome=Outcome.MET,
    )
