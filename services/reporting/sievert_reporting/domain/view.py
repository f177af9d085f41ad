"""A format-neutral view of a document: sections of fields, paragraphs, bullets and tables.

Every output format (HTML, PDF, CSV) renders this one view, so they cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Cell = str | int | float | bool | None


@dataclass(frozen=True)
class Table:
    name: str  # file-safe: the CSV is <document>-<name>.csv
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    images: tuple[str, ...] = ()  # file names of charts beside the document


@dataclass(frozen=True)
class DocumentView:
    title: str
    subtitle: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def tables(self) -> list[Table]:
        return [table for section in self.sections for table in section.tables]


def cell_text(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
