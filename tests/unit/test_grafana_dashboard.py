"""deploy/grafana/shixiang-dashboard.json stays in step with the metrics the services export (shared/metrics.py):
every series a panel queries exists, and every metric has a panel — a new metric without one fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from shared import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "shixiang-dashboard.json"
SERIES = re.compile(r"\b(shixiang_[a-z_]+)\b")


def _exported() -> dict[str, MetricWrapperBase]:
    return {m._name: m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}


def _series_of(metric: MetricWrapperBase) -> set[str]:
    """The series names Prometheus scrapes for a metric (a counter's _total, a histogram's _bucket/_sum/_count)."""
    name = metric._name
    if isinstance(metric, Counter):
        return {f"{name}_total"}
    if isinstance(metric, Histogram):
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


def _queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return queries


def test_every_series_a_panel_queries_is_exported_by_the_services() -> None:
    exported = set().union(*(_series_of(m) for m in _exported().values()))
    queried = {name for query in _queries() for name in SERIES.findall(query)}
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, f"queried but not exported: {sorted(queried - exported)}"


def test_every_exported_metric_has_a_panel() -> None:
    queried = {name for query in _queries() for name in SERIES.findall(query)}
    missing = [name for name, metric in _exported().items() if not _series_of(metric) & queried]
    assert not missing, f"no panel shows {missing}: add one to {DASHBOARD.name}"


def test_every_panel_uses_the_chosen_prometheus_data_source_and_has_a_chinese_title() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource"}
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert re.search(r"[\u4e00-\u9fff]", panel["title"]), panel["title"]
