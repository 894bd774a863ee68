"""The Helm chart: lint and render every values file, validate the objects against the Kubernetes schemas
(kubeconform, strict), and check what the platform needs of them against the code they run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from readiness_platform.spark import LOCAL_FS_CLASS, LOCAL_FS_JAR
from tests.helm.chart import (
    CHART,
    ENVIRONMENTS,
    NAMESPACE,
    REGISTRY,
    ROOT,
    SCHEMAS,
    TAG,
    helm,
    kube_version,
    objects,
    one,
    render,
    tool,
)

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# names the platform reads that are not settings.py's (Dagster, Spark, delta-rs, MLflow, the image)
NOT_SETTINGS = {"DAGSTER_HOME", "DAGSTER_PG_URL", "DAGSTER_CURRENT_IMAGE", "SPARK_CONF_DIR", "AWS_REGION",
                "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "MLFLOW_BACKEND_STORE_URI"}
SECRET_NAME = re.compile(r"URL|URI|PASSWORD|SECRET|TOKEN|PEPPER|KEY", re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"[a-z0-9+.-]+://[^/\s:@\"']+:[^/\s@\"']+@", re.IGNORECASE)


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(owner, pod spec) of every workload, the SparkApplication's driver and executor included."""
    out = [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
           for d in docs if d["kind"] in WORKLOADS]
    for app in objects(docs, "SparkApplication"):
        for role in ("driver", "executor"):
            spec = app["spec"][role]
            out.append((f"SparkApplication/{app['metadata']['name']}/{role}",
                        {"containers": [{"name": role, "image": app["spec"]["image"], **spec}]}))
    return out


def containers(docs: list[dict]) -> list[tuple[str, dict]]:
    return [(owner, c) for owner, spec in pod_specs(docs) for c in spec.get("initContainers", []) + spec["containers"]]


def settings_env_names() -> set[str]:
    """Every environment variable readiness_platform/settings.py reads."""
    from pydantic import AliasChoices

    from readiness_platform.settings import Settings

    prefix = Settings.model_config["env_prefix"]
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"{prefix}{name}".upper())
        if isinstance(field.validation_alias, AliasChoices):
            names |= {str(a).upper() for a in field.validation_alias.choices}
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias.upper())
    return names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_helm_lint_passes(env: str) -> None:
    result = helm("lint", str(CHART), "--strict", "--kube-version", kube_version(), "-f",
                  str(CHART / f"values-{env}.yaml"), "--set", f"image.tag={TAG}", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_objects_are_valid_kubernetes(env: str, rendered: dict[str, str], tmp_path: Path) -> None:
    """kubeconform -strict against the API server's own schemas and the CRDs' (SparkApplication,
    ServiceMonitor, PrometheusRule): unknown or misspelt fields fail; nothing is skipped."""
    out = tmp_path / f"{env}.yaml"
    out.write_text(rendered[env])
    result = subprocess.run(
        [str(tool("kubeconform")), "-strict", "-summary", "-output", "text", "-kubernetes-version", kube_version(),
         "-schema-location", str(SCHEMAS / "{{ .ResourceKind }}{{ .KindSuffix }}.json"), str(out)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout


def test_kubeconform_catches_a_misspelt_field(rendered: dict[str, str], tmp_path: Path) -> None:
    """The schemas are strict, the CRD's too (a guard on the offline schema conversion)."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(rendered["production"].replace("onFailureRetryInterval:", "onFailureRetryIntervall:")
                      .replace("ingressClassName:", "ingressClass:"))
    result = subprocess.run(
        [str(tool("kubeconform")), "-strict", "-summary", "-schema-location",
         str(SCHEMAS / "{{ .ResourceKind }}{{ .KindSuffix }}.json"), str(broken)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "onFailureRetryIntervall" in result.stdout and "ingressClass" in result.stdout


def test_rendering_without_an_image_tag_fails_and_says_how() -> None:
    result = helm("template", "r", str(CHART), "--kube-version", kube_version(), check=False)
    assert result.returncode != 0
    assert "image.tag is required: --set image.tag=$IMAGE_TAG" in result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_image_is_the_registry_and_tag_given(env: str, manifests: dict[str, list[dict]]) -> None:
    want = f"{REGISTRY}/readiness-platform:{TAG}"
    images = {owner: c["image"] for owner, c in containers(manifests[env])}
    assert images and set(images.values()) == {want}, images
    # the image Dagster's runs start in, too
    code = one(manifests[env], "Deployment", "-dagster-code")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "DAGSTER_CURRENT_IMAGE", "value": want} in code["env"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_value_is_inline(env: str, manifests: dict[str, list[dict]], rendered: dict[str, str]) -> None:
    docs = manifests[env]
    assert not objects(docs, "Secret"), "the chart must not create Secrets: they come from existing ones"
    assert not CREDENTIALS_IN_URL.search(rendered[env]), "a URL with credentials is rendered"
    for owner, c in containers(docs):
        for var in c.get("env", []):
            if SECRET_NAME.search(var["name"]) and var["name"] not in ("MLFLOW_TRACKING_URI",):
                assert "value" not in var and "secretKeyRef" in var.get("valueFrom", {}), (owner, var)
    values = "\n".join(yaml.safe_dump(yaml.safe_load((CHART / f).read_text()))  # the values, not their comments
                       for f in ("values.yaml", f"values-{env}.yaml"))
    assert not CREDENTIALS_IN_URL.search(values)
    # the settings the app needs that carry credentials reach every app pod from the existing Secret
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in api["env"] if "valueFrom" in v}
    assert {"DATABASE_URL", "REDIS_URL", "DAGSTER_PG_URL"} <= refs.keys()
    assert {r["name"] for r in refs.values()} == {"readiness-platform"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_names_are_what_the_platform_reads(env: str, manifests: dict[str, list[dict]]) -> None:
    known = settings_env_names() | NOT_SETTINGS
    config = one(manifests[env], "ConfigMap", "-env")["data"]
    names = set(config)
    for _, c in containers(manifests[env]):
        names |= {v["name"] for v in c.get("env", [])}
    assert names - known == set(), f"not read by the platform: {sorted(names - known)}"
    assert config["READINESS_LAKEHOUSE_URI"].startswith("s3a://")
    assert config["READINESS_CHECKPOINT_URI"].startswith("s3a://")
    assert config["READINESS_FEAST_ENV"] == "production"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_runs_the_cli_with_probes_on_the_health_routes(env: str, manifests: dict[str, list[dict]]) -> None:
    from fastapi.routing import APIRoute

    from api.routes.health import router

    routes = {r.path for r in router.routes if isinstance(r, APIRoute)}
    docs = manifests[env]
    deployment = one(docs, "Deployment", "-api")
    pod = deployment["spec"]["template"]
    api = pod["spec"]["containers"][0]
    assert api["args"] == ["readiness", "api"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz" in routes
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
    assert api["resources"]["requests"] and api["resources"]["limits"]
    port = api["ports"][0]
    config = one(docs, "ConfigMap", "-env")["data"]
    assert int(config["API_PORT"]) == port["containerPort"] and config["API_HOST"] == "0.0.0.0"
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    assert deployment["spec"]["replicas"] == values["api"]["replicas"]
    pdb = one(docs, "PodDisruptionBudget", "-api")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_container_command_parses_and_is_probed(env: str, manifests: dict[str, list[dict]]) -> None:
    from readiness_platform.cli import build_parser

    parser = build_parser()
    for owner, spec in pod_specs(manifests[env]):
        if owner.startswith("SparkApplication"):
            continue  # the operator's spark-submit runs the stream (test_stream_is_a_spark_application)
        for c in spec["containers"]:
            if c["args"][0] == "readiness":
                parser.parse_args(c["args"][1:])  # exits on an unknown command or option
            assert "livenessProbe" in c, owner
            if c.get("ports"):
                assert "readinessProbe" in c, owner


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_services_select_pods_that_exist(env: str, manifests: dict[str, list[dict]]) -> None:
    docs = manifests[env]
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] in WORKLOADS]
    for service in objects(docs, "Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), service["metadata"]["name"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ingress_terminates_tls_and_routes_only_the_public_paths(env: str, manifests: dict[str, list[dict]]) -> None:
    ingress = one(manifests[env], "Ingress", "-api")
    host = ingress["spec"]["rules"][0]["host"]
    assert ingress["spec"]["tls"][0]["hosts"] == [host] and ingress["spec"]["tls"][0]["secretName"]
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert "/api" in paths and not paths & {"/metrics", "/readyz"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_policies_let_only_the_ingress_controller_reach_the_api(env: str,
                                                                        manifests: dict[str, list[dict]]) -> None:
    policies = objects(manifests[env], "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())["networkPolicy"]
    controller = values["ingressController"]["namespaceSelector"]
    prometheus = values["prometheus"]["namespaceSelector"]
    for policy in policies:
        component = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if "namespaceSelector" not in peer:
                    continue  # same namespace
                if peer["namespaceSelector"] == controller:
                    assert component == "api", policy["metadata"]["name"]
                else:  # from outside the namespace, only Prometheus, only to metrics ports
                    assert peer["namespaceSelector"] == prometheus and component in ("api", "exporter")
    # Dagster's code server answers Dagster's own pods; the stream's driver and executors each other
    code = one(manifests[env], "NetworkPolicy", "-dagster-code")
    sources = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in code["spec"]["ingress"][0]["from"]}
    assert sources == {"dagster-webserver", "dagster-daemon", "dagster-run"}
    stream = one(manifests[env], "NetworkPolicy", "-stream")
    assert stream["spec"]["ingress"][0]["from"][0]["podSelector"] == stream["spec"]["podSelector"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dagster_instance_is_valid_for_dagster(env: str, manifests: dict[str, list[dict]], tmp_path: Path) -> None:
    """The dagster.yaml of the chart loads as Dagster 1.13 loads it, its classes import and take their
    config, and its storage is what `readiness dagster-home --postgres` writes."""
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes.config_class import class_from_code_pointer

    from readiness_platform.instance import POSTGRES

    docs = manifests[env]
    config_map = one(docs, "ConfigMap", "-dagster-instance")
    (tmp_path / "dagster.yaml").write_text(config_map["data"]["dagster.yaml"])
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"] == POSTGRES["storage"]
    for key in ("run_launcher", "run_coordinator", "compute_logs", "local_artifact_storage"):
        cls: Any = class_from_code_pointer(config[key]["module"], config[key]["class"])
        result = process_config(cls.config_type(), config[key].get("config") or {})
        assert result.success, (key, [e.message for e in result.errors or []])
    launcher = config["run_launcher"]
    assert launcher["class"] == "K8sRunLauncher" and launcher["config"]["job_namespace"] == NAMESPACE
    assert launcher["config"]["instance_config_map"] == config_map["metadata"]["name"]
    service_accounts = {d["metadata"]["name"] for d in objects(docs, "ServiceAccount")}
    assert launcher["config"]["service_account_name"] in service_accounts
    # the workspace loads the code server the chart runs
    workspace = yaml.safe_load(one(docs, "ConfigMap", "-dagster-workspace")["data"]["workspace.yaml"])
    server = workspace["load_from"][0]["grpc_server"]
    service = one(docs, "Service", "-dagster-code")
    assert server["host"] == service["metadata"]["name"] and server["port"] == service["spec"]["ports"][0]["port"]
    # Dagster's service account may launch run Jobs
    role = one(docs, "Role", "-dagster")
    assert any("jobs" in r["resources"] and "create" in r["verbs"] for r in role["rules"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stream_is_a_spark_application_on_object_storage(env: str, manifests: dict[str, list[dict]]) -> None:
    docs = manifests[env]
    app = one(docs, "SparkApplication", "-stream")
    spec = app["spec"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values.update(yaml.safe_load((CHART / f"values-{env}.yaml").read_text()))
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["restartPolicy"]["type"] == values["stream"]["restartPolicy"]["type"]
    assert spec["restartPolicy"]["onFailureRetries"] > 0
    # the job's own file, where the image installs the project
    assert spec["mainApplicationFile"].endswith("/site-packages/spark_jobs/stream/main.py")
    assert (ROOT / "spark_jobs" / "stream" / "main.py").exists()
    driver_env = {v["name"]: v for v in spec["driver"]["env"]}
    assert driver_env["READINESS_SPARK_MASTER"]["value"].startswith("k8s://")
    assert {"DATABASE_URL", "REDIS_URL"} <= driver_env.keys()
    config = one(docs, "ConfigMap", "-env")["data"]
    assert config["READINESS_CHECKPOINT_URI"] == values["storage"]["checkpointUri"]
    assert spec["sparkConf"]["spark.hadoop.fs.s3a.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    # the local file system of jvm/localfs, from the jars folder of the image, as readiness_platform.spark sets it
    jars_dir = re.search(r"READINESS_JARS_DIR=(\S+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert spec["sparkConf"]["spark.hadoop.fs.file.impl"] == LOCAL_FS_CLASS
    assert spec["sparkConf"]["spark.driver.extraClassPath"] == f"{jars_dir}/{LOCAL_FS_JAR}"
    assert spec["sparkConf"]["spark.executor.extraClassPath"] == f"{jars_dir}/{LOCAL_FS_JAR}"
    assert spec["driver"]["serviceAccount"] in {d["metadata"]["name"] for d in objects(docs, "ServiceAccount")}
    spark_role = one(docs, "Role", "-spark")
    assert any("pods" in r["resources"] and "create" in r["verbs"] for r in spark_role["rules"])


def test_values_files_set_only_keys_the_chart_has() -> None:
    """A misspelt key in an environment's values would be ignored silently by Helm."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def unknown(over: dict, base: dict, path: str = "") -> list[str]:
        out = []
        for k, v in over.items():
            if k not in base:
                out.append(f"{path}{k}")
            elif isinstance(v, dict) and isinstance(base[k], dict) and base[k]:
                out += unknown(v, base[k], f"{path}{k}.")
        return out

    free = ("settings.", "serviceAccount.annotations.", "ingress.annotations.", "monitoring.serviceMonitor.labels.",
            "monitoring.prometheusRule.labels.", "stream.sparkConf.")
    for env in ENVIRONMENTS:
        bad = [k for k in unknown(yaml.safe_load((CHART / f"values-{env}.yaml").read_text()), defaults)
               if not k.startswith(free)]
        assert not bad, f"values-{env}.yaml: {bad}"


def test_install_command_of_the_readme_renders() -> None:
    """The README's command: registry and tag from DOCKER_REGISTRY and IMAGE_TAG."""
    readme = (ROOT / "README.md").read_text()
    assert "--set image.registry=$DOCKER_REGISTRY --set image.tag=$IMAGE_TAG" in readme
    assert render("production").returncode == 0


def test_dockerfile_copies_what_exists_and_holds_what_the_chart_runs() -> None:
    """The image cannot be built here (no Docker): check what can be checked without building it."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignored = [line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            *sources, _ = [p for p in line.split()[1:] if not p.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not any(source.rstrip("/") == i or source.startswith(f"{i}/") for i in ignored), source
    found = re.search(r"SPARK_HOME=(\S+)", dockerfile)
    assert found
    spark_home = found.group(1)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["stream"]["mainApplicationFile"] == \
        f"local://{spark_home.removesuffix('pyspark')}spark_jobs/stream/main.py"
    assert re.search(r"READINESS_JARS_DIR=/opt/readiness/jars\b", dockerfile)
    assert "-Djars.dir=/jars" in dockerfile and "${jars.dir}" in (ROOT / "jvm" / "pom.xml").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "docker" / "spark-entrypoint.sh")]).returncode == 0
