"""Charts for the annual report, PNG and SVG, with matplotlib's non-interactive backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def annual_charts(report: dict[str, Any], folder: Path) -> list[str]:
    """Writes ``<name>.png`` and ``<name>.svg`` per chart; returns the PNG names (for documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    plots = [
        ("by_modality", "Incidents by modality", report["by_modality"]),
        ("by_code", "Incidents by notification code", report["by_code"]),
        ("sites", "Incidents by site", [(s["site"], s["incidents"]) for s in report["sites"]]),
    ]
    for name, title, pairs in plots:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        try:
            labels = [str(k).replace("_", " ") for k, _ in pairs] or ["none"]
            values = [v for _, v in pairs] or [0]
            ax.barh(labels, values, color="#3b6ea5")
            ax.set_title(f"{title} - {report['period']['label']}")
            ax.set_xlabel("incidents")
            ax.invert_yaxis()
            fig.tight_layout()
            for ext in ("png", "svg"):
                fig.savefig(folder / f"chart-{name}.{ext}", dpi=100, metadata=_metadata(ext))
        finally:
            plt.close(fig)
        names.append(f"chart-{name}.png")
    return names


def _metadata(ext: str) -> dict[str, Any]:
    # no creation dates, so the same figures give the same files
    return {"Date": None} if ext == "svg" else {"Software": None}
