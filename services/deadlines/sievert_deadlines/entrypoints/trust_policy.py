"""``/v1/trusts/{trust}/deadline-policy``: the trust's local-investigation window, reminders and
how long closed cases are kept."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sievert_deadlines.domain import DEFAULT_POLICY, DeadlinePolicy
from sievert_deadlines.entrypoints.deps import Actor, PolicyReader, ServiceDep
from sievert_shared.auth import Principal
from sievert_shared.errors import NotFoundError, UnprocessableError

trust_policy_router = APIRouter(prefix="/v1")

TrustCode = Annotated[str, Path(max_length=64)]


class PolicySet(BaseModel):
    """A trust's deadline policy. The two Regulation 8(4) windows are statutory and not here."""

    model_config = ConfigDict(extra="forbid")

    local_investigation_days: int = Field(ge=1, le=365, description="Regulation 8(3) window, in days.")
    notification_reminders: list[int] = Field(description="Days before the 2-week due, e.g. [7, 3, 1].")
    report_reminders: list[int] = Field(description="Days before the 12-week due, e.g. [28, 14, 7, 1].")
    local_investigation_reminders: list[int] = Field(description="Days before the local due, e.g. [7].")
    duty_of_candour_working_days: int = Field(
        default=DEFAULT_POLICY.duty_of_candour_working_days,
        ge=1,
        le=60,
        description="Working days from discovery to tell the patient (trust policy; the law says "
        "'as soon as reasonably practicable').",
    )
    regulation_8_1_working_days: int = Field(
        default=DEFAULT_POLICY.regulation_8_1_working_days,
        ge=1,
        le=60,
        description="Working days from discovery to inform under Regulation 8(1) (trust procedure).",
    )
    inform_other_employers_working_days: int = Field(
        default=DEFAULT_POLICY.inform_other_employers_working_days,
        ge=1,
        le=60,
        description="Several employers, and this trust notifies: working days from discovery to inform "
        "the other employer(s) (trust policy). Default 5.",
    )
    task_reminders: list[int] = Field(
        default=list(DEFAULT_POLICY.task_reminders), description="Days before a task's due, e.g. [3, 1]."
    )
    asap_reminder_after_days: int | None = Field(
        default=DEFAULT_POLICY.asap_reminder_after_days,
        description=(
            "The early 'as soon as possible' reminder (line 218): days after the 2 weeks start counting, "
            "1 to 13; null for none. Default 2."
        ),
    )
    retention_years_radiotherapy: int = Field(
        default=DEFAULT_POLICY.retention_years_radiotherapy,
        description="Years a closed radiotherapy case is kept (line 227: local procedures). Default 30.",
    )
    retention_years_other: int = Field(
        default=DEFAULT_POLICY.retention_years_other,
        description="Years any other closed case is kept. Default 20.",
    )

    def as_policy(self) -> DeadlinePolicy:
        """The domain's policy; ``InvalidPolicyError`` if it refuses these values."""
        try:
            return DeadlinePolicy(
                local_investigation_days=self.local_investigation_days,
                notification_reminders=tuple(self.notification_reminders),
                report_reminders=tuple(self.report_reminders),
                local_investigation_reminders=tuple(self.local_investigation_reminders),
                duty_of_candour_working_days=self.duty_of_candour_working_days,
                regulation_8_1_working_days=self.regulation_8_1_working_days,
                inform_other_employers_working_days=self.inform_other_employers_working_days,
                task_reminders=tuple(self.task_reminders),
                asap_reminder_after_days=self.asap_reminder_after_days,
                retention_years_radiotherapy=self.retention_years_radiotherapy,
                retention_years_other=self.retention_years_other,
            )
        except ValueError as exc:
            raise InvalidPolicyError(str(exc)) from exc


class InvalidPolicyError(UnprocessableError):
    """The body parsed, but the domain refuses the policy it describes (e.g. a reminder 0 days
    before the due)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"path": "body", "message": detail}])


class UnknownTrustError(NotFoundError):
    """Another trust's policy: to this caller it does not exist."""

    def __init__(self, trust: str) -> None:
        super().__init__(f"no trust {trust}")


def _require_sees(caller: Principal, trust: str) -> None:
    if not caller.sees(trust):
        raise UnknownTrustError(trust)


def _policy_document(trust: str, policy: DeadlinePolicy) -> JSONResponse:
    body: dict[str, Any] = {"trust": trust, **dataclasses.asdict(policy)}
    return JSONResponse(body)


@trust_policy_router.get("/trusts/{trust}/deadline-policy")
async def get_policy(trust: TrustCode, caller: PolicyReader, service: ServiceDep) -> JSONResponse:
    _require_sees(caller, trust)
    return _policy_document(trust, await service.policy(trust))


@trust_policy_router.put("/trusts/{trust}/deadline-policy", responses={422: {}})
async def put_policy(trust: TrustCode, body: PolicySet, caller: Actor, service: ServiceDep) -> JSONResponse:
    """Applies to windows opened from now on; windows already open keep the plan they have."""
    _require_sees(caller, trust)
    policy = body.as_policy()
    await service.set_policy(trust, policy)
    return _policy_document(trust, policy)
