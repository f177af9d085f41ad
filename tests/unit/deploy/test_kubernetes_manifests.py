"""deploy/k8s/ checked offline: every manifest validates against the Kubernetes schemas that
``kubernetes-validate`` bundles (strict: an unknown field is an error), and the rules a site relies
on hold: probes, resources, a disruption budget per Deployment, Secrets referenced and never
inlined, scraping annotations, default-deny network policies, an autoscaler on an existing
Deployment, and every ConfigMap variable a setting some service reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.settings import IntakeSettings
from sievert_reporting.settings import ReportingSettings
from sievert_shared.settings import KafkaSettings

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
#: The Kubernetes version the schemas are checked against (the oldest a site is expected to run
#: is no older than the autoscaling/v2 and policy/v1 APIs used here).
KUBERNETES_VERSION = "1.30.0"
NOT_A_RESOURCE = {"kustomization.yaml"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name not in NOT_A_RESOURCE)
RESOURCES = [(path.name, doc) for path in MANIFESTS for doc in documents(path)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _name, doc in RESOURCES if doc["kind"] == kind]


@pytest.mark.parametrize(
    "resource",
    [pytest.param(doc, id=f"{name}:{doc['kind']}/{doc['metadata']['name']}") for name, doc in RESOURCES],
)
def test_each_resource_validates_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_refused() -> None:
    """The validation is strict: the check above would catch a typo."""
    deployment = dict(of_kind("Deployment")[0])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert all((K8S / name).is_file() for name in listed), listed
    assert listed == {p.name for p in MANIFESTS} - {"secret.example.yaml"}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


@pytest.mark.parametrize("deployment", of_kind("Deployment"), ids=lambda d: d["metadata"]["name"])
def test_every_deployment_has_probes_resources_and_a_disruption_budget(deployment: dict[str, Any]) -> None:
    for container in containers(deployment):
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budgets = [
        b
        for b in of_kind("PodDisruptionBudget")
        if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(budgets) == 1, deployment["metadata"]["name"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    port = str(containers(deployment)[0]["ports"][0]["containerPort"])
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": port,
        "prometheus.io/path": "/metrics",
    }


def test_secrets_are_referenced_never_inlined() -> None:
    example = documents(K8S / "secret.example.yaml")[0]
    secret_keys = set(example["stringData"])
    assert not [doc for name, doc in RESOURCES if doc["kind"] == "Secret" and name != "secret.example.yaml"]
    for deployment in of_kind("Deployment"):
        for container in containers(deployment):
            for variable in container.get("env", []):
                if variable["name"] in secret_keys:
                    assert "value" not in variable, (deployment["metadata"]["name"], variable["name"])
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "sievert-secrets"


def test_network_policies_deny_by_default() -> None:
    (deny,) = [p for p in of_kind("NetworkPolicy") if p["metadata"]["name"] == "sievert-default-deny"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_the_autoscaler_scales_an_existing_deployment_on_consumer_lag() -> None:
    deployments = {d["metadata"]["name"] for d in of_kind("Deployment")}
    for hpa in of_kind("HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        (metric,) = hpa["spec"]["metrics"]
        assert metric["external"]["metric"]["name"] == "sievert_consumer_lag_messages"
        target = next(
            d for d in of_kind("Deployment") if d["metadata"]["name"] == hpa["spec"]["scaleTargetRef"]["name"]
        )
        assert "replicas" not in target["spec"], "the autoscaler owns the replica count"


def settings_read_from(variable: str) -> tuple[type[Any], str] | None:
    """The settings model and field an environment variable sets, or None if nothing reads it
    (pydantic-settings ignores a variable it does not know, so a misspelt one is silently lost)."""
    models: list[type[Any]] = [
        KafkaSettings,
        IntakeSettings,
        ClassifierSettings,
        DeadlinesSettings,
        ReportingSettings,
    ]
    for model in models:
        prefix = str(model.model_config.get("env_prefix", ""))
        if variable.startswith(prefix) and variable[len(prefix) :].lower() in model.model_fields:
            return model, variable[len(prefix) :].lower()
    return None


def test_every_configmap_variable_is_a_setting_a_service_reads() -> None:
    (configmap,) = of_kind("ConfigMap")
    unread = [variable for variable in configmap["data"] if settings_read_from(variable) is None]
    assert not unread, f"no service reads these ConfigMap variables (misspelt?): {unread}"
    assert settings_read_from("KAFKA_TOPIC_RETENTON_MS") is None  # the check has teeth


def test_the_configmap_replicates_created_topics_on_three_brokers_and_keeps_every_event() -> None:
    (configmap,) = of_kind("ConfigMap")
    assert configmap["data"]["KAFKA_TOPIC_REPLICATION_FACTOR"] == "3"
    assert configmap["data"]["KAFKA_TOPIC_RETENTION_MS"] == "-1"
