"""The Trends page's pure parts: which years to offer, and the geometry of its charts (server-side
SVG: stacked columns month by month, stacked bars per category), drawn from reporting's analysis
as it answered. No script, no chart library: the template draws rectangles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Okabe & Ito (2008), "Color Universal Design": readable with the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")

#: The analysis's classes, in its order, with the colour each is drawn in.
CLASSES: tuple[tuple[str, str], ...] = (
    ("notifiable", OKABE_ITO[0]),
    ("not_notifiable", OKABE_ITO[1]),
    ("near_miss", OKABE_ITO[2]),
)


def financial_year(day: dt.date) -> str:
    first = day.year if day.month >= 4 else day.year - 1
    return f"{first}/{(first + 1) % 100:02d}"


def years_offered(today: dt.date, count: int = 6) -> list[str]:
    """The current financial year and the ones before it, newest first."""
    first = int(financial_year(today)[:4])
    return [f"{y}/{(y + 1) % 100:02d}" for y in range(first, first - count, -1)]


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # the tooltip: what the rectangle counts


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    segments: tuple[Segment, ...]
    labels: tuple[tuple[float, float, str], ...]  # x, y, text
    ticks: tuple[tuple[float, float, str], ...]  # x, y, text of the value axis
    axis: tuple[float, float, float, float]  # the value axis's line: x1, y1, x2, y2
    #: the axes' titles: (x, y, text, rotated)
    titles: tuple[tuple[float, float, str, bool], ...] = ()


def _scale_max(values: Sequence[int]) -> int:
    top = max([*values, 1])
    step = max(1, -(-top // 4))
    return step * 4


def monthly_totals(series: Mapping[str, Sequence[int]]) -> list[int]:
    return [sum(month) for month in zip(*(series[c] for c, _ in CLASSES), strict=True)]


def shared_scale(every_series: Sequence[Mapping[str, Sequence[int]]]) -> int:
    """The top of one value axis for several charts (small multiples compare on one scale)."""
    return _scale_max([total for series in every_series for total in monthly_totals(series)])


def monthly_columns(
    months: Sequence[str],
    series: Mapping[str, Sequence[int]],
    words: Mapping[str, str],
    *,
    small: bool = False,
    scale: int | None = None,
    heading: str | None = None,
) -> Chart:
    """Stacked columns, one per month, classes bottom up; ``small``: one of several side by side
    (small multiples, labelled every third month), on the ``scale`` they share."""
    width, height, left, bottom, top = (300, 210, 40, 40, 24) if small else (900, 250, 60, 50, 10)
    plot_h = height - bottom - top
    peak = scale or _scale_max(monthly_totals(series))
    slot = (width - left - 10) / max(len(months), 1)
    segments, labels = [], []
    for i, month in enumerate(months):
        base = 0
        for cls, colour in CLASSES:
            count = series[cls][i]
            if count:
                h = plot_h * count / peak
                y = height - bottom - plot_h * base / peak - h
                segments.append(
                    Segment(
                        left + i * slot + 2, y, slot - 4, h, colour, f"{month}: {count} {words[cls].lower()}"
                    )
                )
            base += count
        every = 3 if small else 1 if len(months) <= 12 else 6
        if i % every == 0:
            labels.append((left + i * slot + slot / 2, height - bottom + 14, month[2:] if small else month))
    ticks = tuple(
        (left - 6, height - bottom - plot_h * v / peak + 4, str(v)) for v in range(0, peak + 1, peak // 4)
    )
    titles: tuple[tuple[float, float, str, bool], ...] = (
        (left + (width - left) / 2, height - 6, "Month discovered", False),
        (14, top + plot_h / 2, "Incidents", True),
    )
    if heading is not None:
        titles = (*titles, (left + (width - left) / 2, 14, heading, False))
    return Chart(
        width, height, tuple(segments), tuple(labels), ticks, (left, top, left, height - bottom), titles
    )


def category_bars(items: Sequence[Mapping[str, Any]], words: Mapping[str, str]) -> Chart:
    """Stacked horizontal bars, one per category (most first), classes left to right."""
    row, label_w, width = 26, 330, 900
    height = max(1, len(items)) * row + 50
    peak = _scale_max([int(i["incidents"]) for i in items])
    plot_w = width - label_w - 20
    segments, labels = [], []
    for n, item in enumerate(items):
        y, base = 5 + n * row, 0
        text = str(item["label"])
        labels.append((label_w - 8, y + row / 2 + 4, text if len(text) <= 52 else text[:51] + "…"))
        for cls, colour in CLASSES:
            count = int(item[cls])
            if count:
                w = plot_w * count / peak
                segments.append(
                    Segment(
                        label_w + plot_w * base / peak,
                        y + 3,
                        w,
                        row - 6,
                        colour,
                        f"{item['label']}: {count} {words[cls].lower()}",
                    )
                )
            base += count
    axis_y = height - 45
    ticks = tuple((label_w + plot_w * v / peak, axis_y + 16, str(v)) for v in range(0, peak + 1, peak // 4))
    titles = ((label_w + plot_w / 2, height - 8, "Incidents", False),)
    return Chart(
        width, height, tuple(segments), tuple(labels), ticks, (label_w, axis_y, width - 20, axis_y), titles
    )
