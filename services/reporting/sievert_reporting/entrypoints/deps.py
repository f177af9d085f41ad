"""What the routes depend on, as ``Annotated`` aliases: who calls (with the roles a route needs),
the services ``bootstrap`` built, and whose a row is.

Every route but health authenticates and acts for the caller's trust only: a row of another
trust answers 404, as if it did not exist, so ids cannot be probed. Who may do what: RP leads read
and act on submissions, findings and themes; auditors read; trust admins read and manage activity
counts and shared-theme consent; theme reviewers read other trusts' shared themes and nothing
else; integration engines have nothing to do here. The actor on every event is the caller's
subject.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Path, Request

from sievert_reporting.adapters.read_model import Owned, owner_of
from sievert_reporting.service_layer.cases import CaseService
from sievert_reporting.service_layer.submissions import ReportingService
from sievert_reporting.service_layer.themes import ThemeService
from sievert_shared.auth import AuthError, Principal, Role, require
from sievert_shared.errors import ForbiddenError, NotFoundError
from sievert_shared.runtime import ServiceRuntime

TRUST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

Reader = Annotated[Principal, require(Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)]
Lead = Annotated[Principal, require(Role.RP_LEAD)]
Admin = Annotated[Principal, require(Role.TRUST_ADMIN)]
# Shared themes are anonymised by construction and consented to: the one cross-trust read.
SharedReader = Annotated[
    Principal, require(Role.THEME_REVIEWER, Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR)
]
TrustPath = Annotated[str, Path(min_length=1, max_length=64, pattern=TRUST_PATTERN)]


def one_trust(caller: Principal) -> str:
    """The trust a route acts for when no row names it (opening a theme, listing). The development
    principal acts for every trust, so it cannot stand for one: such routes need credentials."""
    if caller.every_trust:
        raise AuthError(
            403,
            "Forbidden",
            "this route acts for one trust and the development principal acts for every trust: "
            "send credentials",
        )
    return caller.trust


def trust_of_path(trust: str, caller: Principal) -> str:
    """The trust named in the path, if the caller sees it. 404 as in intake and deadlines: a 403
    here would tell a caller which trust codes exist."""
    if not caller.sees(trust):
        raise NotFoundError(f"no trust {trust}")
    return trust


def refuse_sites_of_another_trust(sites: list[str]) -> None:
    if sites:
        raise ForbiddenError(f"site(s) {', '.join(sites)} belong to another trust's incidents")


def refuse_unless_acts_for(caller: Principal, trust: str, site: str) -> None:
    if not caller.may_post_for(trust, site):
        raise ForbiddenError(f"these credentials do not act for site {site}")


@dataclass(frozen=True)
class Owners:
    """Whose a row is, checked against the caller before a route reads or acts on it."""

    runtime: ServiceRuntime

    async def visible(self, table: Owned, key: uuid.UUID, caller: Principal) -> tuple[str, str] | None:
        """The row's (trust, site) if the caller may see it; None for another trust's row, which
        the route answers exactly as a row that does not exist."""
        async with self.runtime.pool.acquire() as conn:
            owner = await owner_of(conn, table, key)
        return owner if owner is not None and caller.sees(owner[0]) else None

    async def readable(self, table: Owned, key: uuid.UUID, caller: Principal) -> str:
        """The trust of a row the caller may see, else 404."""
        owner = await self.visible(table, key, caller)
        if owner is None:
            raise NotFoundError(f"no {table[:-1]} {key}")
        return owner[0]

    async def writable(self, table: Owned, key: uuid.UUID, caller: Principal) -> str:
        """The trust of a row the caller may act on: 404 if it may not see it, 403 if it sees it
        but does not act for its site."""
        owner = await self.visible(table, key, caller)
        if owner is None:
            raise NotFoundError(f"no {table[:-1]} {key}")
        refuse_unless_acts_for(caller, *owner)
        return owner[0]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _submissions(request: Request) -> ReportingService:
    service: ReportingService = request.app.state.submissions
    return service


def _themes(request: Request) -> ThemeService:
    service: ThemeService = request.app.state.themes
    return service


def _cases(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def _owners(request: Request) -> Owners:
    return Owners(_runtime(request))


def _pool(request: Request) -> asyncpg.Pool:
    return _runtime(request).pool


Submissions = Annotated[ReportingService, Depends(_submissions)]
Themes = Annotated[ThemeService, Depends(_themes)]
Cases = Annotated[CaseService, Depends(_cases)]
OwnersDep = Annotated[Owners, Depends(_owners)]
#: for the routes that only read the read model, through ``adapters.read_model``
Pool = Annotated[asyncpg.Pool, Depends(_pool)]
