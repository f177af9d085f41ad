"""Render a ``DocumentView`` as HTML (jinja2), PDF (fpdf2, from the same template) and CSV.

The PDF is drawn by fpdf2 from the HTML the same template produces with ``pdf=True`` (no CSS,
the subset of HTML fpdf2 lays out), so the two formats cannot drift apart. fpdf2 is a pure
wheel: no system libraries to install. Its core fonts are Latin-1, so the few typographic
characters outside it are spelled in ASCII for the PDF.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

from fpdf import FPDF, TextStyle
from jinja2 import Environment, StrictUndefined, select_autoescape

from sievert_reporting.domain.view import DocumentView, Table, cell_text

_TEMPLATE = """\
{%- if not pdf -%}
<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{{ view.title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#1d1d1d}
h1{margin-bottom:.2rem} .subtitle{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef} caption{text-align:left;font-weight:600;padding:.25rem 0}
dl{display:grid;grid-template-columns:16rem 1fr;gap:.2rem 1rem} dt{font-weight:600}
img{max-width:100%}
</style></head><body>
{%- endif %}
<h1>{{ view.title }}</h1>
{%- if pdf %}<h4>{{ view.subtitle }}</h4>{% else %}<p class="subtitle"><i>{{ view.subtitle }}</i></p>{% endif %}
{%- for section in view.sections %}
<h2>{{ section.title }}</h2>
{%- if section.fields %}
{%- if pdf %}
<table width="100%" border="1"><tbody>
{%- for label, value in section.fields %}<tr align="left"><td bgcolor="#eef2f7"{% if loop.first %} width="30%"{% endif %}>{{ label }}</td><td{% if loop.first %} width="70%"{% endif %}>{{ value }}</td></tr>{% endfor %}
</tbody></table>
{%- else %}
<dl>{% for label, value in section.fields %}<dt>{{ label }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
{%- endif %}
{%- endif %}
{%- for paragraph in section.paragraphs %}
<p>{{ paragraph }}</p>
{%- endfor %}
{%- if section.bullets %}
<ul>{% for item in section.bullets %}<li>{{ item }}</li>{% endfor %}</ul>
{%- endif %}
{%- for table in section.tables %}
{%- if pdf %}<h3>{{ table.caption }}</h3>{% endif %}
{%- if table.rows %}
<table{% if pdf %} width="100%" border="1"{% endif %}>
{%- if not pdf %}<caption>{{ table.caption }}</caption>{% endif %}
<thead><tr{% if pdf %} align="left"{% endif %}>{% for header in table.headers %}<th{% if pdf %} width="{{ widths(table)[loop.index0] }}%"{% endif %}>{{ header }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for row in table.rows %}
<tr{% if pdf %} align="left"{% endif %}>{% for value in row %}<td>{{ value | cell }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table>
{%- else %}
{%- if pdf %}<p>None.</p>{% else %}<p><i>{{ table.caption }}: none.</i></p>{% endif %}
{%- endif %}
{%- endfor %}
{%- for image in section.images %}
{%- if pdf %}<img src="{{ image_dir }}/{{ image }}" width="500">{% else %}<p><img src="{{ image }}" alt="{{ image }}"></p>{% endif %}
{%- endfor %}
{%- endfor %}
{%- if not pdf %}
</body></html>
{%- endif %}
"""


def column_widths(table: Table) -> list[int]:
    """Percentages of the page for the PDF's columns, by how much each holds (a long criterion
    gets room, a code or a count little), so no column is squeezed into a ragged strip."""
    weights = [
        min(max([len(header), *(len(cell_text(row[i])) for row in table.rows)]), 60) + 6
        for i, header in enumerate(table.headers)
    ]
    total = sum(weights)
    widths = [max(6, round(100 * w / total)) for w in weights]
    widths[widths.index(max(widths))] += 100 - sum(widths)
    return widths


_ENV = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined)
_ENV.filters["cell"] = cell_text
_ENV.globals["widths"] = column_widths
_COMPILED = _ENV.from_string(_TEMPLATE)

# Compact: a regulator reads these on paper, so headings are modest and close to their content.
# No bold or italic outside table headers: fpdf2 carries the last emphasis into the cells of the
# next table, so captions and the subtitle are headings of their own, in colour.
_PDF_STYLES = {
    "h1": TextStyle(font_size_pt=15, font_style="", color="#1d1d1d", t_margin=0, b_margin=1),
    "h2": TextStyle(font_size_pt=11, font_style="", color="#17365d", t_margin=4, b_margin=1),
    "h3": TextStyle(font_size_pt=9.5, font_style="", color="#17365d", t_margin=2, b_margin=0.5),
    "h4": TextStyle(font_size_pt=9, font_style="", color="#555555", t_margin=0, b_margin=1),
    "p": TextStyle(t_margin=1, b_margin=1),
    "ul": TextStyle(t_margin=1),
    "li": TextStyle(l_margin=4, t_margin=0.5),
}

_ASCII = str.maketrans(
    {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "≥": ">=", "≤": "<=", "…": "...", "±": "+/-"}
)


def to_html(view: DocumentView) -> str:
    return _COMPILED.render(view=view, pdf=False, image_dir="")


def to_pdf(view: DocumentView, *, image_dir: Path | None = None) -> bytes:
    html = _COMPILED.render(view=view, pdf=True, image_dir=str(image_dir or "."))
    html = html.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")
    # The whitespace between tags would be laid out as blank lines after each table.
    html = re.sub(r">\s+<", "><", html)
    pdf = FPDF(format="A4")
    pdf.set_title(view.title)
    pdf.set_creator("Sievert reporting")
    pdf.set_creation_date(_EPOCH)  # identical content gives identical bytes
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 12, 15)
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    pdf.write_html(html, table_line_separators=True, font_family="Helvetica", tag_styles=_PDF_STYLES)
    return bytes(pdf.output())


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def sha256_of(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_all(view: DocumentView, document: dict[str, Any] | None, folder: Path, stem: str) -> list[Path]:
    """Every format of one document into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: str | bytes) -> None:
        path = folder / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        written.append(path)

    if document is not None:
        put(f"{stem}.json", to_json(document))
    put(f"{stem}.html", to_html(view))
    put(f"{stem}.pdf", to_pdf(view, image_dir=folder))
    for table in view.tables():
        put(f"{stem}-{table.name}.csv", table_csv(table))
    return written


import datetime as _dt  # noqa: E402  (kept beside its only use)

_EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
