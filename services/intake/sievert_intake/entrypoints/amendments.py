"""``/v1/incidents/{id}/amendments``: corrected facts, as a JSON merge patch at a known version."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sievert_intake.domain.commands import AmendIncident
from sievert_intake.domain.incident import Amendment
from sievert_intake.entrypoints.deps import ContextDep, IntakeDep, Writer
from sievert_intake.entrypoints.incidents import accepted_response
from sievert_intake.service_layer.errors import IncidentNotFoundError

router = APIRouter(prefix="/v1/incidents/{incident_id}/amendments")


@router.post("", status_code=202, responses={404: {}, 409: {}, 422: {}})
async def amend_incident(
    incident_id: uuid.UUID, amendment: Amendment, intake: IntakeDep, ctx: ContextDep, caller: Writer
) -> JSONResponse:
    """Record corrected facts and publish ``IncidentFactsAmended``."""
    # An incident's tenant never changes, so checking it before amending is not a race.
    latest, _facts = await intake.current(incident_id)
    if not caller.may_post_for(latest.tenant.trust, latest.tenant.site):
        raise IncidentNotFoundError(incident_id)  # another trust's incident does not exist for you
    return accepted_response(await intake.execute(AmendIncident(incident_id, amendment, ctx)))
