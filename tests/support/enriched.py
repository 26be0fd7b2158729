"""A collector run the way the daemon runs it: ``collect()`` and then the enrichment step (which
stores events, cursors and baselines and attaches history), ``close()`` and then the drained
readings through it. Everything else is the wrapped collector's own attribute."""

from __future__ import annotations

from typing import Any

from agent.model import CollectorStatus
from agent.state.enrich import Enricher


class Enriched:
    def __init__(self, collector: Any, enricher: Enricher | None = None):
        enricher = enricher or Enricher(collector.store)
        enricher.collectors[collector.name] = collector
        object.__setattr__(self, "collector", collector)
        object.__setattr__(self, "enricher", enricher)

    def collect(self) -> list:
        col = self.collector
        readings, status = self.enricher.enrich(col.name, col.collect(), col.host.now(), CollectorStatus(col.name, ok=True))
        for m in status.messages if status else ():
            col.problem(m)
        return list(readings)

    def close(self) -> None:
        col = self.collector
        col.close()
        self.enricher.finish(col.name, col.final_readings(), col.host.now())
        self.enricher.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collector, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.collector, name, value)
