"""Alert rules (promtool check and unit tests, the staff's thresholds) and Grafana dashboards (valid JSON,
every query on a metric the exporter or the API really serves, every query parsed by promtool)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helm.chart import CHART, ENVIRONMENTS, ROOT, one, tool

RULES = CHART / "files" / "alerts.rules.yaml"
RULE_TESTS = ROOT / "tests" / "helm" / "promtool" / "alerts_test.yaml"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
METRIC = re.compile(r"\breadiness_[a-z0-9_]+\b")
# Grafana's variables, as a query would see them
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$model_version": "v2", "$pitcher": ".*"}


def served_series() -> set[str]:
    """Every series name /metrics can carry: the exporter's declared metrics and the API's registry, with the
    suffixes each type adds (derived from the code, not listed by hand)."""
    from api.services import Metrics
    from readiness_platform.exporter import METRICS

    suffixes = {"counter": ("_total", "_created"), "gauge": ("",), "summary": ("_sum", "_count", "_created"),
                "histogram": ("_bucket", "_sum", "_count", "_created")}
    kinds = {name: spec.kind for name, spec in METRICS.items()}
    kinds |= {family.name: family.type for family in Metrics().registry.collect()}
    return {name + suffix for name, kind in kinds.items() for suffix in suffixes[kind]}


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel or variable, PromQL) of every query of every dashboard."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            out += [(path.name, panel["title"], t["expr"]) for t in panel.get("targets", [])]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                out.append((path.name, f"${variable['name']}", variable["query"]["query"]))
    return out


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus would get it: variables substituted, label_values(...) as its selector."""
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    match = re.fullmatch(r"label_values\((.+),\s*\w+\)", expr.strip())
    return match.group(1) if match else expr


def test_rules_file_passes_promtool_check() -> None:
    result = subprocess.run([str(tool("promtool")), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_past_each_threshold_and_not_at_it() -> None:
    """tests/helm/promtool/alerts_test.yaml: every alert of the rules file, just past and at its threshold."""
    result = subprocess.run([str(tool("promtool")), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True,
                            cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for t in case.get("alert_rule_test", [])}
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert alerts - tested == set(), f"alerts without a promtool test: {sorted(alerts - tested)}"


def test_staff_thresholds_are_the_domains() -> None:
    """The thresholds in the rules are readiness_platform/domain/alerts.py's, not copies that drifted."""
    from readiness_platform.domain.alerts import CRITICAL, WARNING

    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    expected = {
        "PitcherReadinessCritical": ("readiness_pitcher_readiness <", CRITICAL["readiness_below"], "critical"),
        "PitcherReadinessWarning": ("readiness_pitcher_readiness <", WARNING["readiness_below"], "warning"),
        "CalibrationConfidenceCritical": ("readiness_calibration_confidence <", CRITICAL["calibration_below"], "critical"),
        "CalibrationConfidenceWarning": ("readiness_calibration_confidence <", WARNING["calibration_below"], "warning"),
        "PitcherLateDataCritical": ("readiness_pitcher_late_fraction >", CRITICAL["late_fraction_above"], "critical"),
        "PitcherLateDataWarning": ("readiness_pitcher_late_fraction >", WARNING["late_fraction_above"], "warning"),
        "FeatureQACritical": ("readiness_feature_qa <", CRITICAL["feature_qa_below"], "critical"),
        "PitcherVelocityDropWarning": ("readiness_pitcher_velocity_delta_mph <", WARNING["velo_delta_below"], "warning"),
    }
    for alert, (comparison, threshold, severity) in expected.items():
        expr = " ".join(rules[alert]["expr"].split())
        number = re.search(re.escape(comparison) + r"\s*(-?[0-9.]+)", expr)
        assert number and float(number.group(1)) == threshold, (alert, expr)
        assert rules[alert]["labels"]["severity"] == severity


def test_rules_use_only_served_metrics() -> None:
    served = served_series()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            used = set(METRIC.findall(rule["expr"]))
            assert used and used <= served, (rule["alert"], sorted(used - served))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_valid_grafana_json(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["datasource"]["uid"] == "${datasource}"


def test_dashboards_cover_what_the_staff_and_operators_asked_for() -> None:
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert titles == {"Readiness per pitcher", "Data freshness", "Stream health", "Calibration"}
    assert len({json.loads(p.read_text())["uid"] for p in DASHBOARDS}) == len(DASHBOARDS)


def test_dashboard_queries_use_only_served_metrics() -> None:
    served = served_series()
    for board, panel, expr in dashboard_queries():
        used = set(METRIC.findall(expr))
        assert used, (board, panel, expr)
        assert used <= served, (board, panel, sorted(used - served))


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool parses every query (as recording rules of a throw-away rules file)."""
    queries = dashboard_queries()
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}", "expr": as_promql(expr)} for i, (_, _, expr) in enumerate(queries)]}]}
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([str(tool("promtool")), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_chart_ships_the_rules_and_the_dashboards(env: str, manifests: dict[str, list[dict]]) -> None:
    docs = manifests[env]
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    rules = yaml.safe_load(RULES.read_text())
    if values.get("monitoring", {}).get("prometheusRule", {}).get("enabled"):
        assert one(docs, "PrometheusRule", "-alerts")["spec"] == rules
        assert {d["kind"] for d in docs} >= {"ServiceMonitor"}
    else:
        assert yaml.safe_load(one(docs, "ConfigMap", "-alerts")["data"]["readiness.rules.yaml"]) == rules
    boards = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    shipped = {name: json.loads(text) for d in boards for name, text in d["data"].items()}
    assert shipped == {p.name: json.loads(p.read_text()) for p in DASHBOARDS}
