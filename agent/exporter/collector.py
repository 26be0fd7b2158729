"""SnapshotCollector: renders the latest snapshot into fresh metric families on every call.

No I/O happens here: the snapshot is immutable and swapped by the daemon, so a scrape never waits
on hardware and takes no lock. ``describe()`` comes from the catalogue, so registering the
collector runs nothing.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, Metric)
from prometheus_client.registry import Collector

from agent.exporter.catalog import METRICS, METRICS_BY_NAME, MetricSpec, UnknownMetric  # noqa: F401 - re-exported
from agent.exporter.families import SAMPLERS
from agent.model import Snapshot

log = logging.getLogger("hwagent.exporter")


def collect_samples(snap: Snapshot) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}

    def emit(name: str, labels: dict, value: float) -> None:
        if name not in METRICS_BY_NAME:
            raise UnknownMetric(f"metric {name} is not in the catalogue")
        out.setdefault(name, []).append((labels, float(value)))

    for sampler in SAMPLERS:
        try:
            sampler(snap, emit)
        except UnknownMetric:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken mapping must not empty /metrics
            log.warning("sampler %s failed: %s", sampler.__name__, exc)
    return out


def _family(spec: MetricSpec, samples: list[tuple[dict, float]]) -> Metric:
    labels = list(spec.labels)
    if spec.type == "counter":
        fam: CounterMetricFamily | GaugeMetricFamily = CounterMetricFamily(spec.name[: -len("_total")], spec.help, labels=labels)
    elif spec.type == "info":
        fam = GaugeMetricFamily(spec.name, spec.help, labels=labels)  # value-1 identity series
    else:
        fam = GaugeMetricFamily(spec.name, spec.help, labels=labels, unit="")
    for lab, value in samples:
        if set(lab) != set(labels):
            raise ValueError(f"{spec.name}: labels {sorted(lab)} differ from catalogue {sorted(labels)}")
        fam.add_metric([str(lab[k]) for k in labels], value)
    return fam


def build_families(snap: Snapshot) -> list[Metric]:
    samples = collect_samples(snap)
    return [_family(spec, samples[spec.name]) for spec in METRICS if samples.get(spec.name)]


class SnapshotCollector(Collector):
    def __init__(self, get_snapshot: Callable[[], Snapshot]):
        self._get = get_snapshot

    def collect(self) -> Iterator[Metric]:
        yield from build_families(self._get())

    def describe(self) -> Iterator[Metric]:
        for spec in METRICS:
            yield _family(spec, [])
