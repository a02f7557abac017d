"""What the monitoring files (deploy/monitoring) reference, and what a scrape of ewarn offers.

PromQL is read with a regular expression, enough for the expressions we write: strings, label matchers,
ranges and grouping clauses are removed, then every identifier not called as a function and not a keyword is
a series name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RULES = MONITORING / "alert-rules.yml"
SCRAPE_CONFIG = MONITORING / "prometheus.yml"

# Series Prometheus makes itself for every target, never in a scrape.
PROMETHEUS_OWN = {"up"}

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")


def series_in(expr: str) -> set[str]:
    """The series names one PromQL expression reads."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    def panels(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield target["expr"]


def rule_exprs(rules: dict[str, Any]) -> Iterator[str]:
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


def referenced_series() -> dict[str, set[str]]:
    """Series name -> the files referencing it (dashboard and alert rules)."""
    out: dict[str, set[str]] = {}
    exprs = [(DASHBOARD.name, e) for e in dashboard_exprs(json.loads(DASHBOARD.read_text()))]
    exprs += [(RULES.name, e) for e in rule_exprs(yaml.safe_load(RULES.read_text()))]
    for where, expr in exprs:
        for name in series_in(expr):
            out.setdefault(name, set()).add(where)
    return out


_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "info": ("_info",),
}


def scrape_series(text: str, *, with_samples_only: bool = False) -> set[str]:
    """Series names a scrape offers: sample names, or (by default) every name a declared family may have."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples}
        if not with_samples_only:
            names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
    return names
