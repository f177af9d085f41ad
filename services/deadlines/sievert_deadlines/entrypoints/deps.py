"""What the deadlines routes depend on, as ``Annotated`` aliases FastAPI resolves per request.

Who may do what: reads for the RP lead and auditors; acting on a window (a submission, an agreed
extension, people's tasks) and the trust's policy for the RP lead and trust admins, who answer for
the trust's compliance; trust admins and auditors may read the policy they work under and the
tasks they act on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sievert_deadlines.service_layer.deadlines import DeadlinesService
from sievert_shared.auth import Principal, Role, require


def get_service(request: Request) -> DeadlinesService:
    """The service the composition root gave ``create_app``."""
    service: DeadlinesService = request.app.state.deadlines_service
    return service


ServiceDep = Annotated[DeadlinesService, Depends(get_service)]

Reader = Annotated[Principal, require(Role.RP_LEAD, Role.AUDITOR)]
Actor = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN)]
RpLead = Annotated[Principal, require(Role.RP_LEAD)]
"""Recording what the enforcing authority agreed (a withdrawal) is the RP lead's to answer for."""
PolicyReader = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)]
TaskReader = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)]
"""People's tasks are read by whoever may act on them (RP leads, trust admins) and by auditors: a
trust admin who may complete a task must be able to see it."""
