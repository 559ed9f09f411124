"""The operator's kit against the worker it deploys: the Kubernetes manifests' ports, probe paths and variables, the
compose file's worker, and the alert rules' metrics, checked against the settings, the routes and a worker's
/metrics, so that none of them can name something the worker does not have."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from stream.api_contract import ROUTES
from stream.metrics import SAFETY_NETS, WorkerMetrics
from stream.settings import Settings, declarations

DEPLOY = Path(__file__).parents[2] / "deploy"
#: The variables a manifest may set besides the declared settings' (the pod's own name, for the advertised host).
POD_VARIABLES = {"POD_NAME"}


def manifests() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "k8s" / "wnnrec.yaml").read_text())}


def test_the_statefulset_runs_the_worker_as_the_settings_and_routes_say():
    docs = manifests()
    assert {"StatefulSet", "Service", "PodDisruptionBudget"} <= set(docs)
    pod = docs["StatefulSet"]["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    env = {var["name"]: var for var in worker["env"]}
    settings_env = {declaration.env for declaration in declarations().values()}
    assert set(env) - POD_VARIABLES <= settings_env, set(env) - POD_VARIABLES - settings_env
    port = int(env["WNNREC_WEB_PORT"]["value"])
    assert port == Settings().web_port and worker["ports"][0]["containerPort"] == port
    public = {route.path for route in ROUTES if route.public}
    assert worker["livenessProbe"]["httpGet"]["path"] == "/livez" and "/livez" in public
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz" and "/readyz" in public
    # The tokens come from a Secret, never from the manifest itself.
    for name in ("WNNREC_API_TOKEN", "WNNREC_API_ERASE_TOKEN"):
        assert "secretKeyRef" in env[name]["valueFrom"] and "value" not in env[name]
    # Each worker has its own state volume, where the state folder is.
    mount = worker["volumeMounts"][0]["mountPath"]
    assert env["WNNREC_STATE_DIR"]["value"].startswith(mount)
    assert (
        docs["StatefulSet"]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == worker["volumeMounts"][0]["name"]
    )
    # faust routes a request to the owner's advertised host: the pod under the headless Service.
    headless = docs["StatefulSet"]["spec"]["serviceName"]
    assert env["WNNREC_WEB_ADVERTISED_HOST"]["value"] == f"$(POD_NAME).{headless}"
    services = [
        doc for doc in yaml.safe_load_all((DEPLOY / "k8s" / "wnnrec.yaml").read_text()) if doc["kind"] == "Service"
    ]
    assert any(s["metadata"]["name"] == headless and s["spec"]["clusterIP"] == "None" for s in services)
    assert docs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_the_compose_worker_needs_no_dataset_and_probes_readiness():
    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    assert "data fetch" not in " ".join(worker["command"]) and "WNNREC_DATA" not in worker["environment"]
    assert "/readyz" in " ".join(worker["healthcheck"]["test"])
    assert {"WNNREC_API_TOKEN", "WNNREC_API_ERASE_TOKEN"} <= set(worker["environment"])


def exported_metrics() -> set[str]:
    """The metric families a worker's /metrics declares (its registry, with every counter at zero)."""
    counters = {
        "ratings": 0,
        "dead_letters": {},
        "drift_flags": 0,
        "forgets": 0,
        "users_erased": 0,
        "user_lookups": {},
        "lag": {},
    }
    counters |= {"absolute_error": 0.0, "mae": 0.0, "ready": 1, **dict.fromkeys(SAFETY_NETS, 0)}
    text = WorkerMetrics(lambda: counters, version="test").exposition()[0].decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, flags=re.M))


def test_every_metric_an_alert_rule_names_is_exported():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {name for expr in expressions for name in re.findall(r"\b((?:wnnrec|process)_[a-z_0-9]+)", expr)}
    exported = exported_metrics()

    def exists(name: str) -> bool:
        return name in exported or re.sub(r"_(total|bucket|sum|count|info)$", "", name) in exported

    assert len(expressions) >= 8 and {name for name in named if not exists(name)} == set()
    assert "alerts.yml" in (DEPLOY / "prometheus" / "prometheus.yml").read_text()
