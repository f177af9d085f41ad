"""Free text is refused when it looks like it identifies someone (guidance lines 122, 240)."""

from __future__ import annotations

import pytest

from sievert_reporting.domain.anonymity import find_identifiers, scan_fields


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("patient 943 476 5919 was scanned", "nhs_number", id="nhs-number-spaced"),
        pytest.param("ref 9434765919", "nhs_number", id="nhs-number-run"),
        pytest.param("NHS no. withheld", "nhs_number", id="nhs-keyword"),
        pytest.param("MRN given at the desk", "hospital_number", id="mrn-keyword"),
        pytest.param("record RXH1234567 opened", "hospital_number", id="hospital-number"),
        pytest.param("DOB on the request", "date_of_birth", id="dob-keyword"),
        pytest.param("seen 12/03/1961", "date_of_birth", id="old-date"),
        pytest.param("seen 3 March 1961", "date_of_birth", id="old-date-words"),
        pytest.param("lives near LS1 4AB", "address", id="postcode"),
        pytest.param("from 14 Acacia Avenue", "address", id="street"),
        pytest.param("Mrs Smith was told", "name", id="titled-name"),
        pytest.param("Dr. Jones justified it", "name", id="staff-name"),
    ],
)
def test_identifier_like_text_is_found(text: str, kind: str) -> None:
    assert kind in {f.kind for f in find_identifiers("what_happened", text)}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("On 2025-05-30 the CT head protocol was used for a CT abdomen.", id="recent-date"),
        pytest.param("The patient received 12 mSv against 1 mSv intended (12x).", id="doses"),
        pytest.param("The reporting radiographer told the patient; site RXX01.", id="roles-and-site"),
        pytest.param("Course dose ratio 1.15 to the PTV over 20 fractions.", id="radiotherapy"),
    ],
)
def test_anonymised_narrative_passes(text: str) -> None:
    assert find_identifiers("what_happened", text) == []


def test_paths_name_list_items() -> None:
    found = scan_fields({"corrective_actions": ["fine", "call Mr Brown"]})
    assert [(f.path, f.kind) for f in found] == [("corrective_actions/1", "name")]
