"""``sievert rotate-kek``: re-wrap every patient data key under a new key-encryption key.

Rotation, with intake running throughout:

1. Run intake with ``INTAKE_IDENTIFIER_KEK`` = the new KEK and ``INTAKE_IDENTIFIER_KEK_PREVIOUS`` =
   the old one: new data keys are wrapped under the new KEK, old ones still unwrap.
2. Run ``sievert rotate-kek`` with the same settings: it re-wraps the old data keys, a batch per
   transaction, printing its progress. Interrupted, it resumes where it stopped when run again.
3. Once it reports nothing left under another KEK, unset ``INTAKE_IDENTIFIER_KEK_PREVIOUS``,
   restart intake, and destroy the old KEK.

The data keys themselves do not change, so no ciphertext is rewritten and an erased patient
(whose data key is already gone) stays erased.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

from cryptography.exceptions import InvalidTag

from sievert_intake.adapters.identity_vault import keys_under_other_keks, rewrap_keys
from sievert_intake.bootstrap import kek
from sievert_intake.settings import IntakeSettings
from sievert_shared.db import create_pool, migrate
from sievert_shared.logging import configure_logging


def register_rotate_kek(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rotate-kek",
        help="re-wrap every patient data key under INTAKE_IDENTIFIER_KEK (the old KEK in _PREVIOUS)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch-size", type=int, default=500, help="data keys per transaction (500)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    configure_logging("intake-rotate-kek", "warning")
    return asyncio.run(rotate(IntakeSettings(), batch_size=args.batch_size, out=sys.stderr))


async def rotate(settings: IntakeSettings, *, batch_size: int = 500, out: TextIO = sys.stderr) -> int:
    """Re-wrap and report; the exit status (0: every data key is under the current KEK)."""
    ring = kek(settings)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        print(f"rotate-kek: {done}/{total} data keys re-wrapped under {ring.key_id}", file=out, flush=True)

    pool = await create_pool(settings.database_url.get_secret_value(), max_size=1)
    try:
        await migrate(pool, "sievert_intake.migrations")
        try:
            count = await rewrap_keys(pool, ring, batch_size=batch_size, progress=progress)
        except InvalidTag:
            print(
                "rotate-kek: a data key unwraps under neither INTAKE_IDENTIFIER_KEK nor "
                "INTAKE_IDENTIFIER_KEK_PREVIOUS; set the KEK it was wrapped with as the previous one. "
                "Batches already committed stay re-wrapped.",
                file=out,
            )
            return 1
        left = await keys_under_other_keks(pool, ring)
    finally:
        await pool.close()
    elapsed = time.monotonic() - started
    print(
        f"rotate-kek: {count} data keys re-wrapped in {elapsed:.1f}s; {left} under another KEK",
        file=out,
        flush=True,
    )
    return 0 if left == 0 else 1
