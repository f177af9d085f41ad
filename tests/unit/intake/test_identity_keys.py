"""Pseudonyms, ADT merges and the KEK ring, without I/O."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from sievert_intake.adapters.identity_vault import KeyRing, LocalKek
from sievert_intake.domain.identity import PatientIdentifiers, known_pseudonyms, pseudonym

KEY = b"unit-test-pseudonym-key"


def kek() -> LocalKek:
    return LocalKek(base64.b64encode(os.urandom(32)).decode())


def test_the_nhs_number_decides_the_pseudonym_and_it_is_per_trust() -> None:
    by_nhs = PatientIdentifiers(nhs_number="9434765919", hospital_number="M1", family_name="A")
    same_person = PatientIdentifiers(nhs_number="9434765919", hospital_number="OTHER", family_name="B")
    assert pseudonym(KEY, "RXX", by_nhs) == pseudonym(KEY, "RXX", same_person)
    assert pseudonym(KEY, "RXX", by_nhs) != pseudonym(KEY, "RYY", by_nhs)
    assert pseudonym(b"another key", "RXX", by_nhs) != pseudonym(KEY, "RXX", by_nhs)
    name_only = PatientIdentifiers(family_name="A")
    assert pseudonym(KEY, "RXX", name_only) != pseudonym(KEY, "RXX", name_only)  # random each time


def test_an_adt_finds_the_patient_by_either_number() -> None:
    both = PatientIdentifiers(nhs_number="9434765919", hospital_number="M1")
    assert known_pseudonyms(KEY, "RXX", both) == [
        pseudonym(KEY, "RXX", PatientIdentifiers(nhs_number="9434765919")),
        pseudonym(KEY, "RXX", PatientIdentifiers(hospital_number="M1")),
    ]
    assert known_pseudonyms(KEY, "RXX", PatientIdentifiers(family_name="A")) == []


def test_an_adt_replaces_what_it_gives_and_keeps_the_rest() -> None:
    held = PatientIdentifiers(
        nhs_number="9434765919", hospital_number="M1", family_name="SMITH", address="1 A"
    )
    update = PatientIdentifiers(nhs_number="9434765919", given_names="JON", address="2 B")
    assert held.updated_by(update) == PatientIdentifiers(
        nhs_number="9434765919", hospital_number="M1", family_name="SMITH", given_names="JON", address="2 B"
    )
    assert "SMITH" not in repr(held) and "9434765919" not in repr(held)


def test_the_ring_wraps_under_the_new_kek_and_unwraps_under_both() -> None:
    old, new = kek(), kek()
    data_key = os.urandom(32)
    under_old = old.wrap(data_key)
    ring = KeyRing(new, old)
    assert ring.key_id == new.key_id != old.key_id
    assert ring.unwrap(under_old) == data_key
    rewrapped = ring.wrap(data_key)
    assert new.unwrap(rewrapped) == data_key
    with pytest.raises(InvalidTag):
        old.unwrap(rewrapped)
    with pytest.raises(InvalidTag):
        KeyRing(new).unwrap(under_old)  # the old KEK gone: its data keys are unreadable


def test_a_kek_id_names_the_key_without_revealing_it() -> None:
    text = base64.b64encode(os.urandom(32)).decode()
    assert LocalKek(text).key_id == LocalKek(text).key_id
    assert LocalKek(text).key_id.startswith("local-") and text not in LocalKek(text).key_id
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKek(base64.b64encode(b"short").decode())
