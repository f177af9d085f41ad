"""Trust administration: a trust's sites and integration clients, and the log of who changed them.

A trust admin registers sites and makes integration clients at run time, so a new integration
engine needs no redeploy. A client's API key is ``<key_id>.<secret>``; only the
SHA-256 of the secret is stored and the key is shown once. Every change is written, in the same
transaction, to ``trust_admin_log``, which refuses UPDATE and DELETE.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

from sievert_shared.auth import ApiClient, ClientDirectory, Role, hash_api_secret
from sievert_shared.clock import Clock
from sievert_shared.db import Connection
from sievert_shared.errors import ConflictError, UnprocessableError
from sievert_shared.facts import Nation

V = TypeVar("V")


@dataclass(frozen=True)
class Site:
    trust: str
    site: str
    name: str
    nation: Nation
    registered_at: dt.datetime
    registered_by: str

    def public(self) -> dict[str, Any]:
        return {
            "trust": self.trust,
            "site": self.site,
            "name": self.name,
            "nation": self.nation.value,
            "registered_at": self.registered_at.isoformat(),
            "registered_by": self.registered_by,
        }


@dataclass(frozen=True)
class IntegrationClient:
    key_id: str
    trust: str
    name: str
    sites: tuple[str, ...]
    roles: tuple[Role, ...]
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    revoked_by: str | None

    def public(self) -> dict[str, Any]:
        """Everything but the secret, which is never stored."""
        return {
            "key_id": self.key_id,
            "trust": self.trust,
            "name": self.name,
            "sites": list(self.sites),
            "roles": [role.value for role in self.roles],
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }


class SiteOfAnotherTrustError(ConflictError):
    """A site code is one trust's: another trust cannot register it too."""

    title = "Site of another trust"

    def __init__(self, site: str) -> None:
        super().__init__(f"site code {site} is registered to another trust")
        self.site = site


class UnregisteredSitesError(UnprocessableError):
    """A client may only be bound to sites its trust registered."""

    title = "Unregistered sites"

    def __init__(self, trust: str, sites: Sequence[str]) -> None:
        super().__init__(
            f"register these sites of trust {trust} first (PUT /v1/trusts/{trust}/sites/{{site}}): "
            + ", ".join(sites),
            errors=[{"path": "sites", "message": f"{site} is not a registered site"} for site in sites],
        )
        self.sites = list(sites)


@dataclass(frozen=True)
class Change:
    """Who asks for a change, for the log."""

    actor: str
    correlation_id: str


class TrustAdministration:
    """``pool`` gives the service's pool, which exists only once the service has started."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def register_site(
        self, trust: str, site: str, name: str, nation: Nation, change: Change
    ) -> tuple[Site, bool]:
        """Register or rename a site. Returns the site and whether it is new."""
        now = self._clock.now()
        async with self._pool().acquire() as conn, conn.transaction():
            owner = await conn.fetchval("SELECT trust FROM trust_sites WHERE site = $1", site)
            if owner is not None and owner != trust:
                raise SiteOfAnotherTrustError(site)
            row = await conn.fetchrow(
                """INSERT INTO trust_sites (trust, site, name, nation, registered_at, registered_by)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (trust, site) DO UPDATE SET name = excluded.name, nation = excluded.nation
                   RETURNING *, (xmax = 0) AS created""",
                trust,
                site,
                name,
                nation.value,
                now,
                change.actor,
            )
            assert row is not None
            action = "site_registered" if row["created"] else "site_changed"
            await _log(conn, trust, action, site, {"name": name, "nation": nation.value}, change, now)
        return _site(row), bool(row["created"])

    async def sites(self, trust: str) -> list[Site]:
        rows = await self._pool().fetch("SELECT * FROM trust_sites WHERE trust = $1 ORDER BY site", trust)
        return [_site(row) for row in rows]

    async def create_client(
        self, trust: str, name: str, sites: Sequence[str], change: Change
    ) -> tuple[IntegrationClient, str]:
        """A new integration client bound to ``sites`` of ``trust``. Returns it and its API key,
        which is not kept: the caller must hand it over now."""
        now = self._clock.now()
        key_id = f"{trust.lower()}-{secrets.token_hex(6)}"
        secret = secrets.token_urlsafe(32)
        roles = [Role.INTEGRATION.value]
        async with self._pool().acquire() as conn, conn.transaction():
            registered = {
                r["site"]
                for r in await conn.fetch(
                    "SELECT site FROM trust_sites WHERE trust = $1 AND site = ANY($2::text[])",
                    trust,
                    list(sites),
                )
            }
            unknown = [site for site in dict.fromkeys(sites) if site not in registered]
            if unknown:
                raise UnregisteredSitesError(trust, unknown)
            row = await conn.fetchrow(
                """INSERT INTO integration_clients
                       (key_id, trust, name, sites, roles, secret_sha256, created_at, created_by)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
                key_id,
                trust,
                name,
                sorted(set(sites)),
                roles,
                hash_api_secret(secret),
                now,
                change.actor,
            )
            assert row is not None
            await _log(
                conn,
                trust,
                "client_created",
                key_id,
                {"name": name, "sites": sorted(set(sites))},
                change,
                now,
            )
        return _client(row), f"{key_id}.{secret}"

    async def clients(self, trust: str) -> list[IntegrationClient]:
        rows = await self._pool().fetch(
            "SELECT * FROM integration_clients WHERE trust = $1 ORDER BY created_at, key_id", trust
        )
        return [_client(row) for row in rows]

    async def revoke_client(self, trust: str, key_id: str, change: Change) -> IntegrationClient | None:
        """Revoke a client of ``trust``; None if it has no such client. Revoking twice keeps the
        first revocation."""
        now = self._clock.now()
        async with self._pool().acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE integration_clients SET revoked_at = $3, revoked_by = $4
                   WHERE trust = $1 AND key_id = $2 AND revoked_at IS NULL RETURNING *""",
                trust,
                key_id,
                now,
                change.actor,
            )
            if row is None:
                row = await conn.fetchrow(
                    "SELECT * FROM integration_clients WHERE trust = $1 AND key_id = $2", trust, key_id
                )
                return _client(row) if row is not None else None
            await _log(conn, trust, "client_revoked", key_id, {}, change, now)
        return _client(row)

    async def log(self, trust: str, *, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool().fetch(
            "SELECT * FROM trust_admin_log WHERE trust = $1 ORDER BY id DESC LIMIT $2", trust, limit
        )
        return [
            {
                "at": row["at"].isoformat(),
                "action": row["action"],
                "subject": row["subject"],
                "details": json.loads(row["details"]),
                "actor": row["actor"],
                "correlation_id": row["correlation_id"],
            }
            for row in rows
        ]


class _Remembered(Generic[V]):
    """Answers looked up by key, found or not, remembered for ``ttl`` seconds so a hot route costs
    no round trip; bounded, because unknown keys are attacker-chosen."""

    def __init__(self, ttl: float, monotonic: Callable[[], float], limit: int = 10_000) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._limit = limit
        self._answers: dict[str, tuple[float, V]] = {}

    async def get(self, key: str, load: Callable[[str], Awaitable[V]]) -> V:
        now = self._monotonic()
        remembered = self._answers.get(key)
        if remembered is not None and now - remembered[0] < self._ttl:
            return remembered[1]
        answer = await load(key)
        if len(self._answers) >= self._limit:
            self._answers.clear()
        self._answers[key] = (now, answer)
        return answer

    def forget(self, key: str) -> None:
        self._answers.pop(key, None)


class RegisteredClients(ClientDirectory):
    """The clients a trust admin made, for ``sievert_shared.auth``: one indexed read per key id,
    remembered for ``ttl`` seconds so an engine posting hundreds of incidents a second costs no
    extra round trips. A revocation therefore takes effect within ``ttl`` on other replicas, and
    at once on the one that revoked (``forget``)."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        *,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._remembered: _Remembered[ApiClient | None] = _Remembered(ttl, monotonic)

    async def find(self, key_id: str) -> ApiClient | None:
        return await self._remembered.get(key_id, self._load)

    async def _load(self, key_id: str) -> ApiClient | None:
        row = await self._pool().fetchrow(
            "SELECT * FROM integration_clients WHERE key_id = $1 AND revoked_at IS NULL", key_id
        )
        if row is None:
            return None
        return ApiClient(
            hash=row["secret_sha256"], trust=row["trust"], sites=list(row["sites"]), roles=list(row["roles"])
        )

    def forget(self, key_id: str) -> None:
        self._remembered.forget(key_id)


class SiteOwners:
    """Which trust registered a site code, for the routes that take a site from the caller: a
    trust-wide person may not report for a site another trust registered. Remembered like
    ``RegisteredClients`` (registrations are rare; a report must not cost a round trip)."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        *,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._remembered: _Remembered[str | None] = _Remembered(ttl, monotonic)

    async def owner(self, site: str) -> str | None:
        return await self._remembered.get(site, self._load)

    async def _load(self, site: str) -> str | None:
        owner: str | None = await self._pool().fetchval("SELECT trust FROM trust_sites WHERE site = $1", site)
        return owner

    async def of_another_trust(self, trust: str, site: str) -> bool:
        owner = await self.owner(site)
        return owner is not None and owner != trust

    def forget(self, site: str) -> None:
        self._remembered.forget(site)


async def _log(
    conn: Connection,
    trust: str,
    action: str,
    subject: str,
    details: dict[str, Any],
    change: Change,
    at: dt.datetime,
) -> None:
    await conn.execute(
        """INSERT INTO trust_admin_log (trust, action, subject, details, actor, correlation_id, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        trust,
        action,
        subject,
        json.dumps(details),
        change.actor,
        change.correlation_id,
        at,
    )


def _site(row: asyncpg.Record) -> Site:
    return Site(
        trust=row["trust"],
        site=row["site"],
        name=row["name"],
        nation=Nation(row["nation"]),
        registered_at=row["registered_at"],
        registered_by=row["registered_by"],
    )


def _client(row: asyncpg.Record) -> IntegrationClient:
    return IntegrationClient(
        key_id=row["key_id"],
        trust=row["trust"],
        name=row["name"],
        sites=tuple(row["sites"]),
        roles=tuple(Role(r) for r in row["roles"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )
