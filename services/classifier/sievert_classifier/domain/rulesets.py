"""The versioned notification criteria, chosen by the date an incident was discovered.

"irmer-2023-04" is the guidance updated 19 April 2023 (line 5). "irmer-2020-08" is the
August 2020 version as far as the 2023 guidance records it (line 7-16, 306-310,
326-334); every criterion it does not record as changed is taken as unchanged.
Line numbers refer to cqc-irmer-notification-guidance-2023.txt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from sievert_classifier.domain import bodies, rules
from sievert_classifier.domain.model import Criterion, Kind, Ruleset, criterion
from sievert_shared.decision import Citation
from sievert_shared.facts import Nation

__all__ = ["IRMER_2020_08", "IRMER_2023_04", "RULESETS", "select_ruleset"]

#: The day the current guidance was published (line 5). An incident discovered on that
#: day is judged by it.
APRIL_2023 = date(2023, 4, 19)

NOTE = Kind.OTHER
COMPLEMENTARY = Kind.COMPLEMENTARY
#: The UKHSA/BIR joint position statement on patients' cumulative dose (July 2023).
CUMULATIVE_DOSE_SOURCE = "ukhsa-bir-cumulative-dose-position-2023.txt"


def _table(items: Iterable[Criterion]) -> Mapping[str, Criterion]:
    return MappingProxyType({item.key: item for item in items})


_COMMON = (
    criterion(
        "1-england",
        "1",
        "Accidental exposure (England only), all modalities including therapy: 3 mSv effective dose or "
        "above (adult), 1 mSv effective dose or above (child); a child has not reached their 18th "
        "birthday. Applied to the total exposure from the incident.",
        139,
        150,
        153,
    ),
    criterion(
        "1-england-therapy",
        "1",
        "Accidental exposure (England only), all modalities including therapy: 3 mSv effective dose or "
        "above (adult), 1 mSv (child). Where the effective dose is not easily estimated, an alternative "
        "recognised unit applies: for a therapy given to the wrong patient without an effective dose, "
        "any therapeutic delivery (radiotherapy Gy to the target, one or more fractions, or the whole "
        "course; a nuclear medicine therapy activity in MBq) is read as above the threshold; nothing "
        "delivered is not. No effective dose is estimated from them.",
        139,
        150,
        153,
        155,
        246,
    ),
    criterion(
        "1-all",
        "1",
        "Accidental exposure (Northern Ireland, Scotland & Wales), all modalities including therapy: "
        "all, regardless of dose.",
        151,
    ),
    criterion(
        "2",
        "2.1-2.4",
        "Unintended exposure, all modalities including nuclear medicine and radiotherapy imaging, and "
        "interventional procedures as well as code 3 (our reading of line 159 with line 291-296): the "
        "intended dose picks the band (less than 0.3 mSv; 0.3 to 2.5 mSv; 2.5 to 10 mSv; more than "
        "10 mSv). Without it, no band can be met below 1 mSv total (3 mSv for an adult).",
        159,
        162,
        163,
        164,
        165,
        291,
        293,
    ),
    criterion(
        "2.1",
        "2.1",
        "Intended dose less than 0.3mSv: 3mSv or above (adult) 1mSv or above (child). A child has not "
        "reached their 18th birthday, or their 16th in Scotland (line 150's note, read for 2.1 too).",
        150,
        153,
        162,
    ),
    criterion(
        "2.2",
        "2.2",
        "Intended dose between 0.3mSv and 2.5mSv (read as 0.3 <= intended < 2.5): 10 or more times "
        "than intended, the multiplication factor being the total dose from the incident divided by "
        "the intended dose.",
        153,
        163,
    ),
    criterion(
        "2.3",
        "2.3",
        "Intended dose between 2.5mSv and 10mSv (read as 2.5 <= intended <= 10): 25mSv or above.",
        153,
        164,
    ),
    criterion(
        "2.4",
        "2.4",
        "Intended dose more than 10mSv: 2.5 or more times than intended (total dose over intended dose).",
        153,
        165,
    ),
    criterion(
        "3",
        "3",
        "Interventional radiology and cardiology: a procedural failure resulting in observable "
        "deterministic effects, or, without a procedural error, unintended or unpredicted observable "
        "deterministic effects; transient erythema excluded.",
        166,
        291,
        293,
        295,
        296,
    ),
    criterion(
        "4.1",
        "4.1",
        "Radiotherapy planning scans: a planning scan repeated twice to obtain an appropriate dataset "
        "(3 scans in total, including the intended scan).",
        167,
    ),
    criterion(
        "4.2a",
        "4.2a",
        "Radiotherapy treatment verification images: set-up error (including an incorrect set-up from "
        "protocol failure) leads to 3 or more imaging exposures in a single fraction, including the "
        "intended image; all regimes including short course.",
        170,
        314,
        322,
    ),
    criterion(
        "4.2b",
        "4.2b",
        "Radiotherapy treatment verification images: additional imaging exposures over the course are "
        "50% or more of those intended, as a result of protocol failure (including set-up errors such "
        "as incorrect immobilisation); all regimes including short course.",
        171,
        310,
        315,
        318,
        323,
    ),
    criterion(
        "4.2c",
        "4.2c",
        "Radiotherapy treatment verification images: additional imaging exposures over the course are "
        "50% or more of those intended, as a result of thematic hardware or software failure; a fault "
        "is thematic when the employer judges it persistent or recurring (including the same fault on "
        "different days of one patient's course, asked as equipment_fault_thematic, never assumed), or "
        "when the same fault affects 3 or more patients (then one additional image each suffices).",
        174,
        310,
        316,
        318,
        324,
    ),
    criterion(
        "5",
        "5",
        "Foetal, all modalities: an unintended foetal exposure AND a resultant foetal dose of 10mGy or "
        "more, even when procedures were followed.",
        175,
        328,
        330,
    ),
    criterion(
        "6",
        "6",
        "Breast feeding infant, nuclear medicine only: a failure in procedure AND a resultant infant "
        "effective dose of 1 mSv or more.",
        176,
    ),
    criterion(
        "7",
        "7",
        "Incorrect radiopharmaceutical: any administration of the incorrect radiopharmaceutical to a "
        "patient, regardless of dose, even the correct isotope with the wrong tracer.",
        177,
        332,
        334,
    ),
    criterion(
        "8.1",
        "8.1",
        "Therapy over-exposure: delivered dose to the planned treatment volume or organs at risk is 1.1 "
        "or more times (whole course) or 1.2 or more times (any fraction) the intended dose.",
        182,
    ),
    criterion(
        "8.2",
        "8.2",
        "Therapy under-exposure: delivered dose to the planned treatment volume is 0.9 or less times the "
        "intended dose (whole course), excluding under-exposure from a geographical miss (9.1 or 9.2).",
        183,
        338,
        345,
    ),
    criterion(
        "9.1",
        "9.1",
        "Radiotherapy geographical miss, total: all total geographical misses, even for a single "
        "fraction or significant part thereof; a treatment of the wrong side or site is read as a "
        "total miss of the intended target.",
        188,
        347,
        349,
    ),
    criterion(
        "9.2",
        "9.2",
        "Radiotherapy geographical miss, partial: the miss exceeds 2.5 times the locally defined error "
        "margin (or 2.5 times the local imaging action level) AND the dose factors of codes 8.1 or 8.2 "
        "are met for the planning target volume or organs at risk.",
        191,
    ),
    criterion(
        "10.1",
        "10.1",
        "Selective internal radiation therapy: delivered activity is outside +/- 20% of the prescribed "
        "activity.",
        196,
    ),
    criterion(
        "10.2",
        "10.2",
        "All other nuclear medicine therapies: delivered activity is outside +/- 10% of the prescribed "
        "activity.",
        197,
    ),
    criterion(
        "M",
        "M",
        "More than one individual exposed within the same incident or theme: notifiable in all cases "
        "regardless of dose, with the most relevant code 1 to 9 as suffix (e.g. M1, M2.1).",
        201,
        203,
        204,
        207,
        276,
        278,
        279,
        281,
        kind=COMPLEMENTARY,
    ),
    criterion(
        "E",
        "E",
        "Equipment fault exposure: equipment failures (including software, PACS/RIS, planning and "
        "record-and-verify systems) are the direct cause; the device (type, manufacturer, model) is "
        "named as recorded. A label on the code: it never makes an incident notifiable.",
        210,
        252,
        285,
        kind=COMPLEMENTARY,
    ),
    criterion(
        "V",
        "V",
        "Voluntary notification: does not meet the statutory criteria but is submitted to share "
        "learning, including near misses and interventional procedures without procedural failure.",
        211,
        268,
        300,
        kind=COMPLEMENTARY,
    ),
    criterion(
        "C",
        "C",
        "Clinically significant event (CSAUE): a statutory notification under Regulation 8(4) whatever "
        "the dose; the duty of candour applies.",
        78,
        85,
        212,
        272,
        kind=COMPLEMENTARY,
    ),
    criterion(
        "anatomy",
        "anatomy",
        "An exposure of the incorrect laterality, or of another anatomical site than intended, is an "
        "unintended exposure: the multiplication or threshold values of the criteria apply, to the "
        "total dose from the incident including the repeat on the intended side.",
        59,
        62,
        153,
        347,
        349,
        kind=NOTE,
    ),
    criterion(
        "near-miss",
        "near-miss",
        "A near miss exposed nobody, so it is not a SAUE; it is investigated locally and may be "
        "notified voluntarily.",
        223,
        268,
        kind=NOTE,
    ),
    criterion(
        "not-medical",
        "not-medical",
        "Worker and public exposures are not medical exposures under IR(ME)R; over-exposures are "
        "reported to the Health and Safety Executive under IRR17 regulation 26.",
        393,
        395,
        kind=NOTE,
    ),
    criterion(
        "authority",
        "authority",
        "The appropriate enforcing authority: CQC (England), Healthcare Inspectorate Wales, the "
        "Regulation and Quality Improvement Authority (Northern Ireland), Healthcare Improvement "
        "Scotland.",
        18,
        351,
        355,
        359,
        365,
        369,
        kind=NOTE,
    ),
    criterion(
        "hse",
        "hse",
        "A worker or member of the public over-exposed (above the IRR17 annual dose limit) is reported "
        "to the Health and Safety Executive (Northern Ireland: HSENI) under IRR17 regulation 26.",
        395,
        397,
        399,
        401,
        403,
        kind=NOTE,
    ),
    criterion(
        "device",
        "device",
        "Device-related incidents are reported to MHRA (England and Wales), Health Facilities Scotland "
        "or the Northern Ireland Adverse Incident Centre, even when not a SAUE, naming the device "
        "(type, manufacturer, model).",
        260,
        377,
        379,
        381,
        383,
        385,
        387,
        389,
        391,
        kind=NOTE,
    ),
    criterion(
        "medicine",
        "medicine",
        "Medicine-related incidents, such as a radiopharmaceutical mislabelled by its supplier, are "
        "reported to MHRA (England and Wales), Health Facilities Scotland or the Northern Ireland "
        "Adverse Incident Centre, even when not a SAUE.",
        377,
        379,
        381,
        383,
        385,
        387,
        389,
        391,
        kind=NOTE,
    ),
    criterion(
        "arsac",
        "arsac",
        "Administering radioactive substances without the appropriate licence breaches Regulation 5: "
        "notify the ARSAC Support Unit. Only an administration can breach it, so the licence is asked "
        "only when something was administered (not of a near miss).",
        89,
        94,
        98,
        kind=NOTE,
    ),
    criterion(
        "licensing-breach",
        "licensing-breach",
        "A Regulation 5 licensing breach is also reported to the enforcing authority on its IR(ME)R "
        "licensing breach form; this is not a Regulation 8(4) notification.",
        45,
        98,
        112,
        kind=NOTE,
    ),
    Criterion(
        key=rules.CUMULATIVE_DOSE,
        code=rules.CUMULATIVE_DOSE,
        text=(
            "A patient's earlier exposures of the same area and their doses are shown with the decision "
            "as context only: the decision to perform a medical imaging exposure is based on clinical "
            "need rather than the dose from previous exposures, and the notification criteria judge "
            "this exposure alone. They do not change this decision."
        ),
        citation=Citation(source=CUMULATIVE_DOSE_SOURCE, lines=(15, 33, 35)),
        kind=NOTE,
    ),
    Criterion(
        key=rules.CUMULATIVE_DOSE_EXCEPTION,
        code=rules.CUMULATIVE_DOSE,
        text=(
            "The exception the position names: multiple high-dose interventional (or CT perfusion) "
            "procedures exposing the same area over a short time period, where deterministic effects "
            "are expected. Previous dose information should then also be considered in the "
            "justification and optimisation process: the earlier doses to this area are flagged for "
            "justifying and optimising the next exposure of it. They still do not change this "
            "decision, which the notification criteria make on this exposure alone; whether an observed "
            "effect was anticipated (code 3, CQC guidance line 296) is recorded by the practitioner, "
            "never inferred from these doses."
        ),
        citation=Citation(source=CUMULATIVE_DOSE_SOURCE, lines=(35, 37, 39)),
        kind=NOTE,
    ),
    criterion(
        "regulation-8(3)",
        "regulation-8(3)",
        "Every incident, notifiable or not and including near misses, is investigated and analysed "
        "locally under Regulation 8(3), and a record is kept.",
        223,
        227,
        kind=NOTE,
    ),
)

#: Criteria that apply to every incident, in the order their reasons are listed.
_NOTIFICATION_RULES = (
    rules.scope,
    rules.code_1,
    rules.code_2_band,
    rules.code_2_1,
    rules.code_2_2,
    rules.code_2_3,
    rules.code_2_4,
    rules.code_3,
    rules.code_4_1,
    rules.code_4_2a,
    rules.code_4_2b,
    rules.code_4_2c,
    rules.code_5,
    rules.code_6,
)
_THERAPY_RULES = (
    rules.code_8_1,
    rules.code_8_2,
    rules.code_9_1,
    rules.code_9_2,
    rules.code_10_1,
    rules.code_10_2,
)
_FINAL_RULES = (
    rules.anatomy,
    rules.code_m,
    rules.code_e,
    rules.code_v,
    rules.code_c,
    bodies.health_and_safety,
    bodies.device_regulator,
    bodies.medicine_regulator,
    bodies.arsac,
    bodies.licensing_breach,
    rules.cumulative_dose,
)

IRMER_2023_04 = Ruleset(
    id="irmer-2023-04",
    applies_from=APRIL_2023,
    criteria=_table(
        (
            *_COMMON,
            criterion(
                "ruleset",
                "ruleset",
                "Discovered on or after 19 April 2023: the criteria of the guidance updated that day.",
                5,
                7,
                kind=NOTE,
            ),
        )
    ),
    rules=(*_NOTIFICATION_RULES, rules.code_7, *_THERAPY_RULES, *_FINAL_RULES),
    relevance=(
        "1",
        "7",
        "9.1",
        "9.2",
        "8.1",
        "8.2",
        "10.1",
        "10.2",
        "3",
        "4.1",
        "4.2a",
        "4.2b",
        "4.2c",
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "5",
        "6",
    ),
    child_under_years=MappingProxyType(
        {Nation.ENGLAND: 18, Nation.WALES: 18, Nation.NORTHERN_IRELAND: 18, Nation.SCOTLAND: 16}
    ),
    adult_threshold_msv=3.0,
    child_threshold_msv=1.0,
    band_2_2_from_msv=0.3,
    band_2_3_from_msv=2.5,
    band_2_4_above_msv=10.0,
    factor_2_2=Decimal(10),
    threshold_2_3_msv=25.0,
    factor_2_4=Decimal("2.5"),
    planning_scans=3,
    images_in_fraction=3,
    additional_images_fraction=Fraction(1, 2),
    course_needs_thematic_equipment=True,
    thematic_patients=3,
    foetal_threshold_mgy=10.0,
    foetal_needs_procedural_failure=False,
    infant_threshold_msv=1.0,
    rt_course_over=1.1,
    rt_fraction_over=1.2,
    rt_course_under=0.9,
    miss_margin_factor=2.5,
    sirt_tolerance=Decimal("0.2"),
    nm_therapy_tolerance=Decimal("0.1"),
    # IRR17 Schedule 3 annual effective dose limits: employee 20 mSv, any other person 1 mSv.
    worker_limit_msv=20.0,
    public_limit_msv=1.0,
)

#: Lines 12-16 say the 2023 update amended the interventional (3) and radiotherapy (8, 9)
#: criteria but do not give the 2020 wording, which is not in the sources. The 2020 ruleset
#: applies the 2023 wording for them, and its reasons say so.
_AMENDED_UNRECORDED = ("3", "8.1", "8.2", "9.1", "9.2")
_UNRECORDED_NOTE = (
    " (August 2020 ruleset: the 2023 wording, because line 12-16 record that this criterion was "
    "amended in 2023 without giving the 2020 text.)"
)


def _with_2020_note(item: Criterion) -> Criterion:
    lines = tuple(sorted({*item.citation.lines, 12, 14, 15}))
    return criterion(item.key, item.code, item.text + _UNRECORDED_NOTE, *lines, kind=item.kind)


# The August 2020 criteria differ only where the 2023 guidance records a change.
IRMER_2020_08 = dataclasses.replace(
    IRMER_2023_04,
    id="irmer-2020-08",
    applies_from=None,
    criteria=_table(
        (
            *(
                item
                for item in IRMER_2023_04.criteria.values()
                if item.key not in {"7", "ruleset", *_AMENDED_UNRECORDED}
            ),
            *(_with_2020_note(IRMER_2023_04.criteria[key]) for key in _AMENDED_UNRECORDED),
            criterion(
                "ruleset",
                "ruleset",
                "Discovered before 19 April 2023: the August 2020 criteria as the 2023 guidance records "
                "them (4.2b/4.2c at 20% for protocol failure or any equipment error; foetal exposure "
                "needs a procedural failure and 1 mGy; no incorrect-radiopharmaceutical code). Codes 3, 8 "
                "and 9 were amended in 2023 but their 2020 text is not recorded, so the 2023 wording is "
                "applied to them; other criteria are unchanged.",
                5,
                7,
                10,
                12,
                14,
                15,
                16,
                308,
                328,
                kind=NOTE,
            ),
            criterion(
                "4.2b",
                "4.2b",
                "Radiotherapy treatment verification images (2020): additional imaging exposures are 20% "
                "or more of those intended over the course of treatment, due to protocol failure.",
                306,
                308,
                323,
            ),
            criterion(
                "4.2c",
                "4.2c",
                "Radiotherapy treatment verification images (2020): additional imaging exposures are 20% "
                "or more of those intended over the course of treatment, due to equipment error.",
                306,
                308,
                324,
            ),
            criterion(
                "5",
                "5",
                "Foetal (2020): a procedural failure AND a resultant foetal dose of 1 mGy or more.",
                328,
            ),
            criterion(
                "7-absent",
                "7",
                "No incorrect-radiopharmaceutical code before 19 April 2023: the administration is judged "
                "on dose like any other unintended exposure.",
                10,
                334,
                kind=NOTE,
            ),
        )
    ),
    rules=(*_NOTIFICATION_RULES, rules.code_7_not_in_ruleset, *_THERAPY_RULES, *_FINAL_RULES),
    relevance=tuple(code for code in IRMER_2023_04.relevance if code != "7"),
    # Line 308: "20% greater than intended ... due to protocol failure or equipment error".
    additional_images_fraction=Fraction(1, 5),
    course_needs_thematic_equipment=False,
    # Line 328: "Previously a procedural failure was needed ... raised from 1 mGy to 10 mGy".
    foetal_threshold_mgy=1.0,
    foetal_needs_procedural_failure=True,
)

#: Newest first.
RULESETS: tuple[Ruleset, ...] = (IRMER_2023_04, IRMER_2020_08)


def select_ruleset(discovered_on: date) -> Ruleset:
    """The ruleset for an incident discovered on ``discovered_on``.

    Discovery, not occurrence, picks it: discovery is when the employer's duties start
    (the 2-week and 12-week clocks, line 219-221). Incidents discovered before August
    2020 also get "irmer-2020-08", the oldest criteria the sources record.
    """
    for ruleset in RULESETS:
        if ruleset.applies_from is None or discovered_on >= ruleset.applies_from:
            return ruleset
    raise AssertionError("the oldest ruleset applies to every date")
