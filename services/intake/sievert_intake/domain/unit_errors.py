"""One answer for a body whose quantities came with units: a unit refused for its field, and every
other bad field, reported together.

The incident's facts and a dose record's doses are both converted to their canonical units before
pydantic validates them; a field whose unit was refused would fail again in validation, so only
the unit's error is kept for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import InitErrorDetails


def validated_beside_unit_errors(
    handler: ValidatorFunctionWrapHandler,
    converted: dict[str, Any],
    unit_errors: list[InitErrorDetails],
    title: str,
) -> Any:
    """``handler(converted)``, or one ``ValidationError`` titled ``title`` holding ``unit_errors``
    and the validation's errors of the fields whose unit was not refused."""
    errors = list(unit_errors)
    try:
        validated = handler(converted)
    except ValidationError as exc:
        refused = {error["loc"][0] for error in unit_errors}
        errors += [
            InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
            for e in exc.errors()
            if not (e["loc"] and e["loc"][0] in refused)
        ]
    if errors:
        raise ValidationError.from_exception_data(title, errors)
    return validated
