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
from pathlib import Path
from typing import Any

from fpdf import FPDF
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
<p class="subtitle"><i>{{ view.subtitle }}</i></p>
{%- for section in view.sections %}
<h2>{{ section.title }}</h2>
{%- if section.fields %}
{%- if pdf %}
<table width="100%" border="1"><tbody>
{%- for label, value in section.fields %}<tr><td{% if loop.first %} width="35%"{% endif %}><b>{{ label }}</b></td><td{% if loop.first %} width="65%"{% endif %}>{{ value }}</td></tr>{% endfor %}
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
{%- if pdf %}<p><b>{{ table.caption }}</b></p>{% endif %}
{%- if table.rows %}
<table{% if pdf %} width="100%" border="1"{% endif %}>
{%- if not pdf %}<caption>{{ table.caption }}</caption>{% endif %}
<thead><tr>{% for header in table.headers %}<th>{{ header }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for row in table.rows %}
<tr>{% for value in row %}<td>{{ value | cell }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table>
{%- else %}
<p><i>{% if not pdf %}{{ table.caption }}: {% endif %}none.</i></p>
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

_ENV = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined)
_ENV.filters["cell"] = cell_text
_COMPILED = _ENV.from_string(_TEMPLATE)

_ASCII = str.maketrans(
    {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "≥": ">=", "≤": "<=", "…": "...", "±": "+/-"}
)


def to_html(view: DocumentView) -> str:
    return _COMPILED.render(view=view, pdf=False, image_dir="")


def to_pdf(view: DocumentView, *, image_dir: Path | None = None) -> bytes:
    html = _COMPILED.render(view=view, pdf=True, image_dir=str(image_dir or "."))
    html = html.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")
    pdf = FPDF(format="A4")
    pdf.set_title(view.title)
    pdf.set_creator("Sievert reporting")
    pdf.set_creation_date(_EPOCH)  # identical content gives identical bytes
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    pdf.write_html(html, table_line_separators=True)
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
