"""Prometheus export: the metric catalogue, sample mapping, per-scrape collector, HTTP server.
prometheus_client is imported only in this package."""
