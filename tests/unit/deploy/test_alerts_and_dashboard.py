"""The alert rules and the Grafana dashboard in deploy/monitoring/ name only metrics a service
exposes (read from each service's own registry, built without connecting to anything), the rules
have the shape Prometheus loads (and pass ``promtool check rules`` where promtool is installed),
and the dashboard is a well-formed Grafana dashboard."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.settings import ReportingSettings
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock

MONITORING = Path(__file__).resolve().parents[3] / "deploy" / "monitoring"
RULES = MONITORING / "prometheus" / "sievert-alerts.yaml"
DASHBOARD = MONITORING / "grafana" / "sievert-dashboard.json"
#: What Prometheus itself provides, not a service.
PROMETHEUS_OWN = {"up"}
_NAME = re.compile(r"\b(sievert_[a-z0-9_]+|up)\b")
_DURATION = re.compile(r"^\d+[smhdwy]$")


def runtimes() -> list[ServiceRuntime]:
    common: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers="127.0.0.1:9", topic_prefix="unused"),
        "database_url": "postgresql://unused@127.0.0.1:9/unused",
    }
    clock = FakeClock(dt.datetime.now(dt.UTC))
    return [
        build_intake(IntakeSettings(mllp_port=0, **common), clock)[0],
        build_classifier(ClassifierSettings(**common), clock)[0],
        build_deadlines(DeadlinesSettings(**common), clock)[0],
        build_reporting(ReportingSettings(**common), clock)[0],
    ]


@functools.cache
def exposed_names() -> frozenset[str]:
    """Every sample name the services' registries can expose, families with no samples yet too."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    names: set[str] = set()
    for runtime in runtimes():
        for family in runtime.metrics.registry.collect():
            names.add(family.name)
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
    return frozenset(names)


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize(
    ("source", "expressions"),
    [
        pytest.param("alert rules", rule_expressions(), id="alerts"),
        pytest.param("dashboard", dashboard_expressions(), id="dashboard"),
    ],
)
def test_every_metric_used_is_exposed_by_a_service(source: str, expressions: list[str]) -> None:
    exposed = exposed_names()
    used = {name for expr in expressions for name in _NAME.findall(expr)} - PROMETHEUS_OWN
    assert used, source
    assert not sorted(used - exposed), f"{source} name metrics no service exposes: {sorted(used - exposed)}"


def test_the_metrics_the_brief_asks_for_are_alerted_on() -> None:
    """Lag growing, outbox stuck, dead letters, a late timer, an overdue window, not ready."""
    text = " ".join(rule_expressions())
    for name in (
        "sievert_consumer_lag_messages",
        "sievert_outbox_oldest_waiting_age_seconds",
        "sievert_consumer_events_dead_lettered_total",
        "sievert_timer_lateness_seconds_bucket",
        "sievert_timers_oldest_due_age_seconds",
        "sievert_deadline_windows_overdue",
        "sievert_ready",
    ):
        assert name in text, name


def test_the_rules_have_the_shape_prometheus_loads() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule["alert"] for group in groups for rule in group["rules"]]
    assert len(alerts) == len(set(alerts))
    for group in groups:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
            assert _DURATION.match(rule.get("for", "0s")), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)")
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["check", "rules", str(RULES)], id="check"),
        # Each alert fires on the series that mean trouble, and stays quiet on the others.
        pytest.param(["test", "rules", str(RULES.with_name("sievert-alerts.test.yaml"))], id="unit tests"),
    ],
)
def test_promtool_accepts_the_rules(command: list[str]) -> None:
    checked = subprocess.run(["promtool", *command], capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    (variable,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == f"${{{variable['name']}}}", panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
