"""Charts for the trend analysis, PNG and SVG, with matplotlib's non-interactive backend.

Every chart has a title, labelled axes and a legend in words, in the Okabe-Ito palette (readable
with the common colour-vision deficiencies), and the same figures give the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sievert_reporting.domain.analysis import CLASSES, DIMENSIONS

#: Okabe & Ito (2008), "Color Universal Design": one colour per class, in CLASSES' order.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
CLASS_COLOURS = dict(zip(CLASSES, OKABE_ITO, strict=False))


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _save(fig: Figure, folder: Path, name: str) -> str:
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(folder / f"chart-{name}.{ext}", dpi=100, metadata=_metadata(ext))
    plt.close(fig)
    return f"chart-{name}.png"


def _stacked_months(ax: Axes, months: Sequence[str], series: dict[str, list[int]], *, ticks: int = 1) -> None:
    bottom = [0] * len(months)
    positions = range(len(months))
    for cls, words in CLASSES.items():
        values = series[cls]
        ax.bar(positions, values, bottom=bottom, color=CLASS_COLOURS[cls], label=words, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(list(positions)[::ticks], [m for m in months][::ticks], rotation=90 if ticks > 1 else 45)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def monthly(report: dict[str, Any], folder: Path) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    _stacked_months(ax, report["monthly"]["months"], report["monthly"]["series"])
    ax.set_title(f"Incidents month by month - {report['trust']}, {report['period']['label']}")
    ax.set_xlabel("Month discovered")
    ax.set_ylabel("Incidents")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, folder, "monthly")


def five_years(report: dict[str, Any], folder: Path) -> str:
    five = report["five_years"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    _stacked_months(ax, five["months"], five["series"], ticks=6)
    years = five["years"]
    ax.set_title(f"Incidents month by month over five years - {years[0]['label']} to {years[-1]['label']}")
    ax.set_xlabel("Month discovered")
    ax.set_ylabel("Incidents")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, folder, "five_years")


def breakdown(report: dict[str, Any], folder: Path, dimension: str) -> str:
    found = next(b for b in report["breakdowns"] if b["dimension"] == dimension)
    items = found["items"] or [{"label": "no incidents", "incidents": 0, **dict.fromkeys(CLASSES, 0)}]
    fig, ax = plt.subplots(figsize=(8, 1.9 + 0.4 * len(items)))
    labels = [_short(i["label"]) for i in items]
    left = [0] * len(items)
    for cls, words in CLASSES.items():
        values = [i[cls] for i in items]
        ax.barh(labels, values, left=left, color=CLASS_COLOURS[cls], label=words)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_title(f"Incidents by {found['caption'].lower()} - {report['period']['label']}", fontsize=10)
    ax.set_xlabel("Incidents")
    ax.set_ylabel(found["caption"].split(" (")[0].split(":")[0])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save_with_legend(fig, ax, folder, f"by_{dimension}")


def _save_with_legend(fig: Figure, ax: Axes, folder: Path, name: str) -> str:
    """The legend below the plot, where it hides no bar."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, frameon=False, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    for ext in ("png", "svg"):
        fig.savefig(folder / f"chart-{name}.{ext}", dpi=100, metadata=_metadata(ext))
    plt.close(fig)
    return f"chart-{name}.png"


def sites_monthly(report: dict[str, Any], folder: Path) -> str:
    """Small multiples: one panel per site, on one scale, so sites compare at a glance."""
    sites = report["sites_monthly"] or [{"site": "no incidents", "series": dict.fromkeys(CLASSES, [0] * 12)}]
    columns = min(3, len(sites))
    rows = (len(sites) + columns - 1) // columns
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.4 * rows + 0.6), sharey=True, squeeze=False
    )
    months = report["monthly"]["months"]
    for ax, site in zip(axes.flat, sites, strict=False):
        _stacked_months(ax, [m[2:] for m in months], site["series"], ticks=3)
        ax.set_title(site["site"], fontsize=9)
        ax.set_xlabel("Month", fontsize=8)
        ax.set_ylabel("Incidents", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(sites) :]:
        ax.set_visible(False)
    fig.suptitle(f"Incidents by site, month by month - {report['period']['label']}", fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, frameon=False, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    for ext in ("png", "svg"):
        fig.savefig(folder / f"chart-sites_monthly.{ext}", dpi=100, metadata=_metadata(ext))
    plt.close(fig)
    return "chart-sites_monthly.png"


def timeliness(report: dict[str, Any], folder: Path) -> str:
    windows = report["timeliness"]["windows"]
    fig, ax = plt.subplots(figsize=(8, 2.8))
    labels = [f"{w['label']}\n({w['rule']})" for w in windows]
    parts = (
        ("on_time", "In time", OKABE_ITO[2]),
        ("late", "Sent late", OKABE_ITO[1]),
        ("overdue", "Overdue, not sent", OKABE_ITO[3]),
    )
    left = [0] * len(windows)
    for key, words, colour in parts:
        values = [w[key] for w in windows]
        ax.barh(labels, values, left=left, color=colour, label=words)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_title(f"Notifications and reports sent in time - {report['period']['label']}")
    ax.set_xlabel("Windows (incidents)")
    ax.set_ylabel("Document")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save_with_legend(fig, ax, folder, "timeliness")


def national_comparison(report: dict[str, Any], folder: Path) -> str:
    comparison = report["national_comparison"]
    groups = comparison["by_modality_group"]
    fig, ax = plt.subplots(figsize=(8, 3))
    positions = range(len(groups))
    trust = [g["trust_percent"] or 0 for g in groups]
    england = [g["national_percent"] or 0 for g in groups]
    ax.bar(
        [p - 0.2 for p in positions],
        trust,
        width=0.4,
        color=OKABE_ITO[0],
        label=f"{report['trust']}, {report['period']['label']}",
    )
    ax.bar(
        [p + 0.2 for p in positions],
        england,
        width=0.4,
        color=OKABE_ITO[1],
        label=f"England, {comparison['national_year']}",
    )
    ax.set_xticks(list(positions), [g["label"] for g in groups])
    ax.set_title("Share of notifiable incidents by modality group: the trust and England")
    ax.set_xlabel("Modality group")
    ax.set_ylabel("Share of notifications (%)")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, folder, "national_comparison")


def analysis_charts(report: dict[str, Any], folder: Path) -> list[str]:
    """Writes ``chart-<name>.png`` and ``.svg`` per chart; returns the PNG names (for documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        names = [monthly(report, folder), five_years(report, folder)]
        names += [breakdown(report, folder, d.name) for d in DIMENSIONS if d.charted]
        names += [
            sites_monthly(report, folder),
            timeliness(report, folder),
            national_comparison(report, folder),
        ]
    finally:
        plt.close("all")
    return names


def _metadata(ext: str) -> dict[str, Any]:
    # no creation dates, so the same figures give the same files
    return {"Date": None} if ext == "svg" else {"Software": None}
