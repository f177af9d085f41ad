"""``sievert report annual`` and ``sievert report rte-export``: reporting's annual report and the
radiotherapy events for the national analysis on the command line (``replay`` has the other
command, ``sievert replay reporting``).

``sievert report annual --trust RXX --year 2024/25 [--activity counts.csv] [--out DIR]`` reads the
reporting database (``REPORTING_DATABASE_URL``) and writes a folder: annual.json, annual.html,
annual.pdf, one CSV per table, and charts as PNG and SVG: month by month and over five years,
by code, modality, cause and site, rates per 1,000 examinations, timeliness and the national
comparison (``domain.analysis``). Activity CSV columns:
``site,modality,examinations`` for the period asked for.

``sievert report rte-export --trust RXX --from 2025-01-01 --to 2025-12-31 [--out DIR]`` writes
rte-export.json, rte-export-events.csv and rte-export-monthly.csv (``domain.rte_export``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from sievert_reporting.adapters import charts, render
from sievert_reporting.adapters.activity_store import store_activity
from sievert_reporting.adapters.read_model import rte_events
from sievert_reporting.domain.activity import parse_csv
from sievert_reporting.domain.analysis import analysis_span
from sievert_reporting.domain.analysis_view import analysis_view
from sievert_reporting.domain.annual import Period, parse_period
from sievert_reporting.domain.rte_export import CodedEvent, export_tables, rte_export
from sievert_reporting.domain.taxonomy import packaged
from sievert_reporting.service_layer.analysis import read_analysis
from sievert_reporting.settings import ReportingSettings
from sievert_shared.db import Connection, create_pool

_LONDON = ZoneInfo("Europe/London")


def register_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("report", help="reporting's documents")
    inner = parser.add_subparsers(dest="report", metavar="REPORT", required=True)
    annual = inner.add_parser("annual", help="annual trend analysis for one trust")
    annual.add_argument("--trust", required=True)
    annual.add_argument("--year", required=True, help="financial year 2024/25 or calendar year 2024")
    annual.add_argument("--activity", type=Path, help="CSV of site,modality,examinations for the period")
    annual.add_argument("--out", type=Path, help="output folder (default: annual-<trust>-<year>)")
    annual.set_defaults(func=run_annual)
    export = inner.add_parser("rte-export", help="radiotherapy events for the national analysis")
    export.add_argument("--trust", required=True)
    export.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat, help="2025-01-01")
    export.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat, help="2025-12-31")
    export.add_argument("--out", type=Path, help="output folder (default: rte-export-<trust>-<from>-<to>)")
    export.set_defaults(func=run_rte_export)


def run_rte_export(args: argparse.Namespace) -> int:
    if args.end < args.start:
        print(f"sievert report rte-export: --to {args.end} is before --from {args.start}", file=sys.stderr)
        return 2
    out = args.out or Path(f"rte-export-{args.trust}-{args.start}-{args.end}")
    events = asyncio.run(read_rte_events(ReportingSettings(), args.trust, args.start, args.end))
    written = write_rte_export(args.trust, args.start, args.end, events, out)
    print(f"wrote {len(written)} files to {out}", file=sys.stderr)
    return 0


async def read_rte_events(
    settings: ReportingSettings, trust: str, start: dt.date, end: dt.date
) -> list[CodedEvent]:
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=1)
    try:
        async with pool.acquire() as conn:
            return await rte_events(conn, trust, start, end)
    finally:
        await pool.close()


def write_rte_export(
    trust: str, start: dt.date, end: dt.date, events: list[CodedEvent], out: Path
) -> list[Path]:
    """rte-export.json and one CSV per table (events, monthly) into ``out``."""
    export = rte_export(trust, start, end, events, packaged())
    out.mkdir(parents=True, exist_ok=True)
    files = {"rte-export.json": render.to_json(export)}
    files |= {f"rte-export-{name}.csv": render.table_csv(t) for name, t in export_tables(export).items()}
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]


def run_annual(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.year)
        analysis_span(period)  # its five years must be in the calendar
    except ValueError as exc:
        print(f"sievert report annual: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path(f"annual-{args.trust}-{period.label.replace('/', '-')}")
    written = asyncio.run(annual(ReportingSettings(), args.trust, period, out, args.activity))
    print(f"wrote {len(written)} files to {out}", file=sys.stderr)
    return 0


def _progress(step: int, total: int, what: str) -> None:
    print(f"[{step}/{total}] {what}", file=sys.stderr, flush=True)


async def annual(
    settings: ReportingSettings,
    trust: str,
    period: Period,
    out: Path,
    activity_csv: Path | None,
    *,
    as_of: dt.date | None = None,
) -> list[Path]:
    """Writes the analysis of ``period`` into ``out``; ``as_of`` (default today, London): the day
    overdue windows count their days to."""
    today = as_of or dt.datetime.now(_LONDON).date()
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
    try:
        async with pool.acquire() as conn:
            if activity_csv is not None:
                _progress(1, 5, f"loading activity counts from {activity_csv}")
                await load_activity(conn, trust, period, activity_csv)
            _progress(2, 5, f"reading incidents for {trust}, {period.label} and the four years before")
            report = await read_analysis(conn, trust, period, today)
    finally:
        await pool.close()
    _progress(3, 5, f"analysed {report['totals']['incidents']} incidents")
    _progress(4, 5, "drawing charts")
    images = charts.analysis_charts(report, out)
    _progress(5, 5, "writing JSON, HTML, PDF and CSV")
    written = render.write_all(analysis_view(report, images), report, out, "annual")
    written += [out / n for n in images] + [out / n.replace(".png", ".svg") for n in images]
    return written


async def load_activity(conn: Connection, trust: str, period: Period, path: Path) -> None:
    await store_activity(
        conn, trust, period, parse_csv(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    )
