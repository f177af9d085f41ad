"""``sievert classify``, run in-process on a temporary file and on stdin."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sievert_classifier.entrypoints import cli
from sievert_shared.decision import ClassificationDecision
from tests.unit.classifier.classifier_cases import BASE

CT_2_2 = {
    **BASE,
    "discovered_on": "2024-06-03",
    "intended_effective_dose_msv": 1.0,
    "total_effective_dose_msv": 12.0,
}
SMALL_REPEAT = {
    **BASE,
    "discovered_on": "2024-06-03",
    "intended_effective_dose_msv": 0.02,
    "total_effective_dose_msv": 0.04,
}


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def output_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_each_line_gets_one_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "facts.jsonl", json.dumps(CT_2_2), json.dumps(SMALL_REPEAT))

    status = cli.main(["classify", str(source)])

    assert status == 0
    first, second = output_lines(capsys)
    assert (first["notifiable"], first["codes"], first["ruleset"]) == (True, ["2.2"], "irmer-2023-04")
    assert (second["notifiable"], second["codes"]) == (False, [])
    for decision in (first, second):
        ClassificationDecision.model_validate(decision)
        assert set(decision) >= {
            "notifiable",
            "codes",
            "authority",
            "other_bodies",
            "csaue",
            "voluntary",
            "local_investigation",
            "ruleset",
            "needs_facts",
            "reasons",
        }


def test_a_bad_line_names_its_line_and_fields_and_the_rest_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {**CT_2_2, "total_effective_dose_msv": -1, "nation": "mars"}
    source = write_lines(
        tmp_path / "facts.jsonl", json.dumps(CT_2_2), "", json.dumps(bad), json.dumps(SMALL_REPEAT)
    )

    status = cli.main(["classify", str(source)])

    assert status == 1
    first, error, last = output_lines(capsys)
    assert first["codes"] == ["2.2"]
    assert error["line"] == 3
    assert error["error"] == "invalid incident facts"
    assert {field["path"] for field in error["fields"]} == {"nation", "total_effective_dose_msv"}
    assert all(field["message"] for field in error["fields"])
    assert last["notifiable"] is False


def test_a_line_that_is_not_json_is_reported_without_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_lines(tmp_path / "facts.jsonl", '{"nation": "england",', json.dumps(CT_2_2))

    status = cli.main(["classify", str(source)])

    assert status == 1
    error, decision = output_lines(capsys)
    assert error["line"] == 1
    assert error["error"].startswith("invalid JSON")
    assert error["fields"] == []
    assert decision["codes"] == ["2.2"]


def test_a_missing_required_field_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    incomplete = {key: value for key, value in CT_2_2.items() if key != "modality"}
    source = write_lines(tmp_path / "facts.jsonl", json.dumps(incomplete))

    assert cli.main(["classify", str(source)]) == 1
    (error,) = output_lines(capsys)
    assert error["fields"] == [{"path": "modality", "message": "Field required"}]


def test_stdin_is_read_when_no_file_is_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(CT_2_2) + "\n"))

    assert cli.main(["classify"]) == 0
    (decision,) = output_lines(capsys)
    assert decision["codes"] == ["2.2"]


def test_theme_size_applies_code_m(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_lines(tmp_path / "facts.jsonl", json.dumps(SMALL_REPEAT))

    assert cli.main(["classify", "--theme-individuals", "4", str(source)]) == 0
    (decision,) = output_lines(capsys)
    assert (decision["notifiable"], decision["codes"]) == (True, ["M2.1"])


def test_an_unreadable_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["classify", str(tmp_path / "missing.jsonl")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read" in captured.err


def test_register_plugs_into_a_parent_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The shape the top-level `sievert` command uses: register, parse, call args.func(args).
    parser = argparse.ArgumentParser(prog="sievert")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli.register(subparsers)
    source = write_lines(tmp_path / "facts.jsonl", json.dumps(CT_2_2))

    args = parser.parse_args(["classify", str(source)])

    assert args.func is cli.run
    assert args.func(args) == 0
    assert output_lines(capsys)[0]["codes"] == ["2.2"]
