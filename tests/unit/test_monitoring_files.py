"""deploy/monitoring: the Grafana dashboard, the Prometheus scrape configuration and the alert rules.

``promtool`` is not available here, so the structure is checked with pyyaml, and every series the dashboard
and the rules reference must be one ewarn's registry offers (the integration test ``test_metrics`` checks
that each of them also carries samples after a real run). Each check returns its problems; negative cases
feed it broken input, so a check that passes everything fails here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from tests.support.promql import (
    DASHBOARD,
    MONITORING,
    PROMETHEUS_OWN,
    RULES,
    SCRAPE_CONFIG,
    referenced_series,
    scrape_series,
    series_in,
)

from ewarn.settings import Settings
from ewarn.status.metrics_export import exposition

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
SEVERITIES = {"info", "warning", "critical"}


def rule_problems(doc: Any) -> list[str]:
    """Prometheus rule-file structure (what ``promtool check rules`` would refuse)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list) or not doc["groups"]:
        return ["no groups"]
    problems: list[str] = []
    names: set[str] = set()
    alerts: set[str] = set()
    for group in doc["groups"]:
        name = group.get("name")
        if not isinstance(name, str) or name in names:
            problems.append(f"group name {name!r} missing or repeated")
        names.add(str(name))
        if not isinstance(group.get("rules"), list) or not group["rules"]:
            problems.append(f"group {name}: no rules")
            continue
        for rule in group["rules"]:
            alert = rule.get("alert")
            where = f"{name}/{alert}"
            unknown = set(rule) - {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
            if unknown:
                problems.append(f"{where}: unknown keys {sorted(unknown)}")
            if (
                not isinstance(alert, str)
                or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alert)
                or alert in alerts
            ):
                problems.append(f"{where}: alert name missing, invalid or repeated")
            alerts.add(str(alert))
            expr = rule.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{where}: no expr")
            elif expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                problems.append(f"{where}: unbalanced brackets in expr")
            if "for" in rule and not DURATION.match(str(rule["for"])):
                problems.append(f"{where}: for {rule['for']!r} is no duration")
            if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
                problems.append(f"{where}: severity label not one of {sorted(SEVERITIES)}")
            if not (rule.get("annotations") or {}).get("summary"):
                problems.append(f"{where}: no summary annotation")
    return problems


def scrape_config_problems(doc: Any) -> list[str]:
    """Prometheus configuration structure, plus ewarn's rules: the API job sends a key from a file."""
    if not isinstance(doc, dict):
        return ["not a mapping"]
    problems: list[str] = []
    for key in ("scrape_interval", "evaluation_interval"):
        if not DURATION.match(str((doc.get("global") or {}).get(key, ""))):
            problems.append(f"global.{key} is no duration")
    for rule_file in doc.get("rule_files") or []:
        if not (MONITORING / rule_file).is_file():
            problems.append(f"rule file {rule_file} is not beside the configuration")
    jobs = doc.get("scrape_configs")
    if not isinstance(jobs, list) or not jobs:
        return [*problems, "no scrape_configs"]
    seen: set[str] = set()
    for job in jobs:
        name = job.get("job_name")
        if not name or name in seen:
            problems.append(f"job_name {name!r} missing or repeated")
        seen.add(str(name))
        if not (job.get("static_configs") or job.get("kubernetes_sd_configs")):
            problems.append(f"{name}: no targets (static_configs or kubernetes_sd_configs)")
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                if not re.fullmatch(r"[^\s:/]+:\d{1,5}", target):
                    problems.append(f"{name}: target {target!r} is not host:port")
        auth = job.get("authorization")
        if auth is not None and ("credentials" in auth or not auth.get("credentials_file")):
            problems.append(f"{name}: a key belongs in credentials_file, never inline")
        if name == "ewarn-api" and auth is None:
            problems.append("ewarn-api: /metrics needs an operator key (authorization.credentials_file)")
    return problems


def dashboard_problems(doc: Any) -> list[str]:
    problems: list[str] = []
    panels = doc.get("panels") if isinstance(doc, dict) else None
    if not isinstance(panels, list) or not panels:
        return ["no panels"]
    if not doc.get("uid") or not doc.get("title"):
        problems.append("dashboard without uid or title")
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problems.append("panel ids repeat")
    for panel in panels:
        grid = panel.get("gridPos") or {}
        if grid.get("x", 0) + grid.get("w", 0) > 24:
            problems.append(f"{panel.get('title')}: wider than the 24-column grid")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets or not all(isinstance(t.get("expr"), str) and t["expr"] for t in targets):
            problems.append(f"{panel.get('title')}: no query")
    return problems


def unknown_series(referenced: dict[str, set[str]], offered: set[str]) -> list[str]:
    return [
        f"{name} (in {sorted(where)})" for name, where in sorted(referenced.items()) if name not in offered
    ]


def test_alert_rules_are_well_formed() -> None:
    assert rule_problems(yaml.safe_load(RULES.read_text())) == []


def test_scrape_config_is_well_formed() -> None:
    assert scrape_config_problems(yaml.safe_load(SCRAPE_CONFIG.read_text())) == []


def test_dashboard_is_well_formed() -> None:
    assert dashboard_problems(json.loads(DASHBOARD.read_text())) == []


def test_every_referenced_series_is_offered_by_a_scrape() -> None:
    offered = scrape_series(exposition()[0].decode()) | PROMETHEUS_OWN
    referenced = referenced_series()
    assert unknown_series(referenced, offered) == []
    # the dashboard shows every documented family: nothing exported is left off it
    families = {n for n in scrape_series(exposition()[0].decode()) if n.startswith("ewarn_")}
    shown = {n for n, where in referenced.items() if DASHBOARD.name in where}
    stems = {re.sub(r"_(total|bucket|sum|count|info)$", "", n) for n in shown}
    missing = {re.sub(r"_(total|bucket|sum|count|info)$", "", n) for n in families} - stems
    assert missing == set()


def test_the_promised_alerts_exist() -> None:
    """Feed stale, lag growing, deliveries failing, latency above the promise, dead letters (issue 13)."""
    rules = yaml.safe_load(RULES.read_text())
    by_alert = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    wanted = {
        "EwarnFeedStale": "ewarn_feed_last_success_age_seconds",
        "EwarnConsumerLagGrowing": "ewarn_consumer_lag_records",
        "EwarnDeliveriesFailing": "ewarn_deliveries_total",
        "EwarnLatencyAbovePromise": "ewarn_ingest_to_delivery_seconds_bucket",
        "EwarnDeadLetters": "ewarn_dead_letters_total",
    }
    for alert, series in wanted.items():
        assert series in series_in(by_alert[alert]), alert
    # the promise is the README's: median ingest-to-delivery below 100 ms
    assert re.search(r"histogram_quantile\(0\.5,.*\)\s*>\s*0\.1\b", by_alert["EwarnLatencyAbovePromise"])


def test_ewarn_settings_named_in_monitoring_files_exist() -> None:
    text = "\n".join(p.read_text() for p in MONITORING.iterdir() if p.is_file())
    names = set(re.findall(r"EWARN_[A-Z0-9_]+", text))
    assert names, "the scrape configuration says which settings open the role ports"
    for name in names:
        section, _, field = name.removeprefix("EWARN_").lower().partition("__")
        model = Settings.model_fields[section].annotation
        assert field in model.model_fields, name  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param("up", {"up"}, id="bare"),
        pytest.param(
            'rate(ewarn_a_total{x="y", z=~"a|b"}[5m])', {"ewarn_a_total"}, id="function-matchers-range"
        ),
        pytest.param("sum by (le, channel) (rate(h_bucket[1m]))", {"h_bucket"}, id="grouping-not-a-series"),
        pytest.param("max without (f) (a) > 3 * b offset 5m", {"a", "b"}, id="without-offset"),
        pytest.param("a / on(x) group_left b and bool c", {"a", "b", "c"}, id="vector-matching"),
        pytest.param('label_replace(a, "dst", "$1", "src", "(.*)") > 1e3', {"a"}, id="strings-and-numbers"),
        pytest.param(
            "histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))", {"x_bucket"}, id="trailing-by"
        ),
    ],
)
def test_series_in_promql(expr: str, expected: set[str]) -> None:
    assert series_in(expr) == expected


@pytest.mark.parametrize(
    ("check", "doc", "problem"),
    [
        pytest.param(rule_problems, {"groups": []}, "no groups", id="rules-empty"),
        pytest.param(
            rule_problems,
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(x", "labels": {"severity": "warning"},
                                                "annotations": {"summary": "s"}}]}]},
            "unbalanced", id="rules-brackets",
        ),
        pytest.param(
            rule_problems,
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "x > 1", "for": "ten minutes",
                                                "labels": {"severity": "page"}}]}]},
            "no duration", id="rules-duration",
        ),
        pytest.param(
            scrape_config_problems,
            {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
             "scrape_configs": [{"job_name": "ewarn-api", "static_configs": [{"targets": ["127.0.0.1:8080"]}]}]},
            "operator key", id="api-without-key",
        ),
        pytest.param(
            scrape_config_problems,
            {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
             "scrape_configs": [{"job_name": "j", "authorization": {"credentials": "ewk_inline"},
                                 "static_configs": [{"targets": ["http://x:1"]}]}]},
            "never inline", id="inline-key",
        ),
        pytest.param(dashboard_problems, {"uid": "u", "title": "t", "panels": [{"id": 1, "type": "timeseries",
                                          "targets": []}]}, "no query", id="panel-without-query"),
    ],
)  # fmt: skip
def test_checks_report_broken_files(check: Any, doc: Any, problem: str) -> None:
    assert any(problem in p for p in check(doc)), check(doc)


def test_unknown_series_are_reported() -> None:
    assert unknown_series({"ewarn_nope_total": {"x.json"}}, {"ewarn_deliveries_total"}) == [
        "ewarn_nope_total (in ['x.json'])"
    ]
