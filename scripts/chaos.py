"""``make chaos``: the long pipeline fault run.

The four services with two replicas each as processes, in databases and a topic prefix of their
own, a steady load of incidents and amendments with deadline timers coming due, and faults:
SIGKILL of a random replica at random points (100+), pauses (SIGSTOP/SIGCONT) past the consumer
session timeout, and with ``--restart-dependencies`` a restart of PostgreSQL and of Kafka. At the
end it checks from the databases and topics that every accepted incident was classified exactly
once per version, every window opened once, every reminder fired once and never early, no event
was lost or reordered per incident and nothing was dead-lettered; and prints the counts, the
longest stall and the time to catch up after the last fault (tests/support/chaos.py).

    .venv/bin/python scripts/chaos.py [--seconds 480] [--rate 5] [--kills 110] [--pauses 4]
        [--restart-dependencies] [--static-membership] [--log-dir DIR] [--json PATH]

``--restart-dependencies`` restarts the servers of the stack it runs against
(``scripts/stack.sh restart postgres|kafka``, or the commands given by ``--restart-postgres`` /
``--restart-kafka``): never on a stack other runs share. ``scripts/stack.sh cluster up`` starts a
3-broker cluster of its own to run it against (``--bootstrap`` from ``scripts/stack.sh cluster env``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the harness lives with the tests' support code

from sievert_shared.kafka import delete_topics_with_prefix  # noqa: E402
from sievert_shared.settings import KafkaSettings  # noqa: E402
from tests.support.chaos import ChaosPlan, run_chaos  # noqa: E402
from tests.support.processes import service_databases  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=480)
    parser.add_argument("--rate", type=float, default=5, help="incidents per second")
    parser.add_argument("--kills", type=int, default=110)
    parser.add_argument("--pauses", type=int, default=4)
    parser.add_argument("--restart-dependencies", action="store_true")
    parser.add_argument("--restart-postgres", default=f"bash {REPO}/scripts/stack.sh restart postgres")
    parser.add_argument("--restart-kafka", default=f"bash {REPO}/scripts/stack.sh restart kafka")
    parser.add_argument(
        "--static-membership", action="store_true", help="KAFKA_GROUP_INSTANCE_ID per replica"
    )
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:59092"))
    parser.add_argument("--admin-database-url", default=os.environ.get("INTAKE_DATABASE_URL"))
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--log-dir", type=Path)
    parser.add_argument("--json", type=Path, help="write the report here too")
    return parser.parse_args()


async def main() -> int:
    args = _arguments()
    if not args.admin_database_url:
        print(
            'set INTAKE_DATABASE_URL (eval "$(scripts/stack.sh env)") or --admin-database-url',
            file=sys.stderr,
        )
        return 2
    plan = ChaosPlan(
        seconds=args.seconds,
        rate=args.rate,
        kills=args.kills,
        pauses=args.pauses,
        # an empty command leaves that server alone (e.g. a cluster's broker restarted, not PostgreSQL)
        restart_postgres=(args.restart_postgres or None) if args.restart_dependencies else None,
        restart_kafka=(args.restart_kafka or None) if args.restart_dependencies else None,
        static_membership=args.static_membership,
        seed=args.seed,
        settle_timeout=300,
    )
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="sievert-chaos-"))
    prefix = f"chaos-{uuid.uuid4().hex[:8]}"
    print(f"chaos: prefix {prefix}, service logs in {log_dir}")
    try:
        async with service_databases(args.admin_database_url, "chaos") as databases:
            report = await run_chaos(
                plan, bootstrap=args.bootstrap, databases=databases, prefix=prefix, log_dir=log_dir
            )
    finally:
        await delete_topics_with_prefix(KafkaSettings(bootstrap_servers=args.bootstrap), prefix)
    print(report.summary())
    if args.json:
        body = {
            "plan": dataclasses.asdict(plan),
            "accepted_incidents": report.accepted_incidents,
            "accepted_amendments": report.accepted_amendments,
            "retried_requests": report.retried_requests,
            "answers": {str(status): n for status, n in report.answers.items()},
            "faults": [dataclasses.asdict(f) for f in report.faults],
            "counts": report.counts,
            "longest_stall": report.longest_stall,
            "worst_stall": report.worst_stall,
            "stall_after_dependency": report.stall_after_dependency,
            "recovery_after_dependency": report.recovery_after_dependency,
            "catch_up_seconds": report.catch_up_seconds,
            "problems": report.problems,
            "notes": report.notes,
        }
        args.json.write_text(json.dumps(body, indent=2))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
