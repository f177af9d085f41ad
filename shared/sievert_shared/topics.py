"""Topic names, in one place. They are a public interface: dashboards subscribe to them.

Every name hangs off a prefix so that each test (and each tenant-isolated deployment, if a site
wants one) gets its own topics without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "sievert"


@dataclass(frozen=True)
class Topics:
    prefix: str = DEFAULT_PREFIX

    @property
    def incidents(self) -> str:
        """Intake's facts about incidents: reported, amended."""
        return f"{self.prefix}.incidents.v1"

    @property
    def classifications(self) -> str:
        """The classifier's decisions."""
        return f"{self.prefix}.classifications.v1"

    @property
    def deadlines(self) -> str:
        """Deadline windows, reminders, misses and their closing."""
        return f"{self.prefix}.deadlines.v1"

    @property
    def submissions(self) -> str:
        """Regulator submissions: notifications and investigation reports."""
        return f"{self.prefix}.submissions.v1"

    @property
    def cases(self) -> str:
        """A case's life after its decision: investigation close-out, the authority's correspondence
        and closure, withdrawal, closure and retention, and people's tasks."""
        return f"{self.prefix}.cases.v1"

    @property
    def themes(self) -> str:
        """A trust's thematic reviews: opened, incidents linked, individuals counted (for code M)."""
        return f"{self.prefix}.themes.v1"

    @property
    def shared_themes(self) -> str:
        """Anonymised theme summaries trusts share with each other: no incident ids, no patient data."""
        return f"{self.prefix}.shared-themes.v1"

    @property
    def dashboard(self) -> str:
        """Reporting's changes for dashboards: submission status, deadline counts, theme updates."""
        return f"{self.prefix}.dashboard.v1"

    @property
    def doses(self) -> str:
        """Intake's occupational and public dose records: received, corrected."""
        return f"{self.prefix}.doses.v1"

    @property
    def dead_letter(self) -> str:
        """Events a consumer could not decode or does not know, with the reason in headers."""
        return f"{self.prefix}.dead-letter.v1"

    def all(self) -> list[str]:
        return [
            self.incidents,
            self.classifications,
            self.deadlines,
            self.submissions,
            self.cases,
            self.themes,
            self.shared_themes,
            self.dashboard,
            self.doses,
            self.dead_letter,
        ]
