"""Types the rules share: criteria as data, rulesets, the case under decision and findings.

Pure: nothing here reads a clock, the environment or any I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import NamedTuple, TypeVar

from sievert_shared.decision import Citation, FactValue, NeedsAffect, OtherBody, Outcome
from sievert_shared.facts import AnatomyError, ExposureKind, IncidentFacts, Modality, Nation

__all__ = [
    "WRONG_ANATOMY",
    "Case",
    "Criterion",
    "Finding",
    "Kind",
    "Rule",
    "Ruleset",
    "Scope",
    "applies",
    "dec",
    "scope_of",
]


class Kind(Enum):
    """What a criterion contributes to the decision."""

    #: A notification code 1-10: met means notifiable, and the code is listed.
    NOTIFICATION = "notification"
    #: A complementary code M, E, V or C: a prefix on the most relevant code.
    COMPLEMENTARY = "complementary"
    #: Everything else: ruleset choice, scope notes, authority, other bodies, Regulation 8(3).
    OTHER = "other"


#: Complementary codes that make an incident notifiable on their own (line 78, 207); E and V
#: are labels on a code (line 210-211, 285, 268) and never change whether it is notifiable.
NOTIFYING_COMPLEMENTARY = frozenset({"M", "C"})


@dataclass(frozen=True, slots=True)
class Criterion:
    """One criterion as the guidance words it, with our reading where the text needs one."""

    key: str
    code: str
    text: str
    citation: Citation
    kind: Kind = Kind.NOTIFICATION

    @property
    def needs_affect(self) -> NeedsAffect:
        """What a fact this criterion still needs could change.

        Codes 1-10, M and C decide whether the incident is notifiable and under which codes;
        E, V and every other body decide only a label or a route.
        """
        if self.kind is Kind.NOTIFICATION or (
            self.kind is Kind.COMPLEMENTARY and self.code in NOTIFYING_COMPLEMENTARY
        ):
            return NeedsAffect.NOTIFICATION
        return NeedsAffect.ROUTING


def criterion(key: str, code: str, text: str, *lines: int, kind: Kind = Kind.NOTIFICATION) -> Criterion:
    return Criterion(key=key, code=code, text=text, citation=Citation(lines=lines), kind=kind)


class Finding(NamedTuple):
    """A rule's verdict; turned into a ``Reason`` when the decision is assembled."""

    key: str
    outcome: Outcome
    facts: dict[str, FactValue]
    needs: tuple[str, ...] = ()
    body: OtherBody | None = None


#: An exposure of another side or site than intended (line 59-62, 347-349).
WRONG_ANATOMY = frozenset({AnatomyError.WRONG_SIDE, AnatomyError.WRONG_SITE})


class Case:
    """The facts under decision with the values several rules derive from them."""

    __slots__ = ("child", "facts", "individuals", "kind", "rs")

    def __init__(self, facts: IncidentFacts, rs: Ruleset, theme_individuals: int | None) -> None:
        self.facts = facts
        self.rs = rs
        # Line 349: an exposure of the incorrect laterality "is categorised as an unintended
        # exposure", and line 59-62 counts an error in the anatomy as unintended too; so a
        # wrong side or site is judged by the unintended criteria even if recorded as accidental.
        kind = facts.exposure_kind
        if kind is ExposureKind.ACCIDENTAL and facts.anatomy_error in WRONG_ANATOMY:
            kind = ExposureKind.UNINTENDED
        self.kind = kind
        age = facts.patient_age_years
        # Line 150: a child has not reached the 18th birthday, or the 16th in Scotland.
        self.child: bool | None = None if age is None else age < rs.child_under_years[facts.nation]
        # Line 207, 276-281: the incident's own count or the theme's, whichever is larger.
        own = facts.individuals_affected
        self.individuals: int | None = own
        if theme_individuals is not None:
            self.individuals = theme_individuals if own is None else max(own, theme_individuals)


Rule = Callable[[Case], Finding | None]
"""A criterion as a pure function. ``None`` means the criterion does not apply to the case."""

R = TypeVar("R", bound=Rule)


@dataclass(frozen=True, slots=True)
class Scope:
    """The exposure kinds and modalities a rule is about; it is only ever called for those."""

    kinds: frozenset[ExposureKind]
    modalities: frozenset[Modality]


_SCOPES: dict[Rule, Scope] = {}
_EVERYWHERE = Scope(frozenset(ExposureKind), frozenset(Modality))


def applies(
    kinds: Iterable[ExposureKind] = ExposureKind, modalities: Iterable[Modality] = Modality
) -> Callable[[R], R]:
    """Declare a rule's scope; rulesets precompute which rules to run for each case."""
    scope = Scope(frozenset(kinds), frozenset(modalities))

    def register(rule: R) -> R:
        _SCOPES[rule] = scope
        return rule

    return register


def scope_of(rule: Rule) -> Scope:
    return _SCOPES.get(rule, _EVERYWHERE)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A version of the notification criteria: thresholds and wording as data, rules as code."""

    id: str
    #: First discovery date the ruleset applies to; ``None`` for the earliest ruleset.
    applies_from: date | None
    criteria: Mapping[str, Criterion]
    rules: tuple[Rule, ...]
    #: Notification codes, most relevant first: specific failures before dose bands,
    #: the patient before a foetus or infant. Picks the code that carries the prefixes.
    relevance: tuple[str, ...]
    child_under_years: Mapping[Nation, int]
    # Codes 1 (England) and 2.1: 3 mSv adult, 1 mSv child (line 150, 162).
    adult_threshold_msv: float
    child_threshold_msv: float
    # Codes 2.1-2.4 bands of intended dose (line 162-165).
    band_2_2_from_msv: float
    band_2_3_from_msv: float
    band_2_4_above_msv: float
    factor_2_2: Decimal
    threshold_2_3_msv: float
    factor_2_4: Decimal
    planning_scans: int
    images_in_fraction: int
    additional_images_fraction: Fraction
    course_needs_thematic_equipment: bool
    thematic_patients: int
    foetal_threshold_mgy: float
    foetal_needs_procedural_failure: bool
    infant_threshold_msv: float
    rt_course_over: float
    rt_fraction_over: float
    rt_course_under: float
    miss_margin_factor: float
    sirt_tolerance: Decimal
    nm_therapy_tolerance: Decimal
    worker_limit_msv: float
    public_limit_msv: float
    #: The rules to run for each (exposure kind, modality), in ``rules`` order. Derived,
    #: so that a case calls only the few rules that can apply to it.
    dispatch: Mapping[tuple[ExposureKind, Modality], tuple[Rule, ...]] = field(
        init=False, repr=False, compare=False
    )
    #: Keys of the criteria whose missing facts only decide a route or a label. Derived.
    routing_only: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = {
            (kind, modality): tuple(
                rule
                for rule in self.rules
                if kind in scope_of(rule).kinds and modality in scope_of(rule).modalities
            )
            for kind in ExposureKind
            for modality in Modality
        }
        object.__setattr__(self, "dispatch", table)
        routing = frozenset(
            key for key, item in self.criteria.items() if item.needs_affect is NeedsAffect.ROUTING
        )
        object.__setattr__(self, "routing_only", routing)


def dec(value: float) -> Decimal:
    """The decimal a float was written as (``0.07`` -> ``Decimal('0.07')``).

    Products and quotients at a boundary must be exact: in binary floating point
    ``10 * 0.07 > 0.7``, which would wrongly miss code 2.2 at exactly 10x intended.
    ``repr`` gives the shortest decimal that round-trips, i.e. what the user typed.
    """
    return Decimal(repr(value))
