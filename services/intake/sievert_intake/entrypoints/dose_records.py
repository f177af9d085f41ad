"""``/v1/dose-records``: occupational and public dose records from a trust's dosimetry service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from sievert_intake.domain.dose_records import DoseRecordReport
from sievert_intake.entrypoints.deps import ComponentsDep, ContextDep, SiteOwnersDep
from sievert_intake.service_layer.dose_records import DoseRecordService
from sievert_shared.auth import Principal, Role, require
from sievert_shared.errors import ForbiddenError

router = APIRouter(prefix="/v1/dose-records")

#: Dosimetry reports come from the trust's integration engine, as dosimetry services send them.
DoseWriter = Annotated[Principal, require(Role.INTEGRATION)]


async def _dose_records(components: ComponentsDep) -> DoseRecordService:
    return components.dose_records


DoseRecordsDep = Annotated[DoseRecordService, Depends(_dose_records)]


@router.post("", status_code=202, responses={403: {}, 409: {}, 422: {}})
async def record_dose(
    report: DoseRecordReport,
    records: DoseRecordsDep,
    ctx: ContextDep,
    caller: DoseWriter,
    owners: SiteOwnersDep,
) -> JSONResponse:
    """Record one person's doses over one period and publish ``DoseRecordReceived``, or, for a
    correction (``"correction": true``), ``DoseRecordCorrected`` superseding the records whose
    periods it overlaps. An overlapping record that is not a correction is refused (409), a dose in
    a unit of another quantity (a Gy) too (422), and nothing is stored. ``Idempotency-Key``: the
    same key and body give the same answer, another body 409."""
    if not caller.may_post_for(report.trust, report.site):
        raise ForbiddenError(f"these credentials may not record for trust {report.trust} site {report.site}")
    if await owners.of_another_trust(report.trust, report.site):
        raise ForbiddenError(f"site {report.site} is registered to another trust")
    return JSONResponse(await records.record(report, ctx), status_code=202)
