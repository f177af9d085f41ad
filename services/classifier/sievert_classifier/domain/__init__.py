"""The classifier's pure domain: IR(ME)R notification criteria as versioned rulesets.

Nothing here performs I/O, reads a clock or the environment: ``classify`` is a
function of the incident facts (and an optional theme size) alone.
"""

from sievert_classifier.domain.classify import category, classify
from sievert_classifier.domain.model import Case, Criterion, Finding, Ruleset
from sievert_classifier.domain.rulesets import IRMER_2020_08, IRMER_2023_04, RULESETS, select_ruleset

__all__ = [
    "IRMER_2020_08",
    "IRMER_2023_04",
    "RULESETS",
    "Case",
    "Criterion",
    "Finding",
    "Ruleset",
    "category",
    "classify",
    "select_ruleset",
]
