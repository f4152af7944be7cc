"""Prometheus metrics shared by every service (exposed at ``GET /metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

RELAY_PUBLISHED = Counter("shixiang_relay_published_total", "Events published to Kafka by the relay", ["source"])
RELAY_LAG = Gauge("shixiang_relay_lag_events", "Stored events not yet published", ["source"])
CONSUMED = Counter("shixiang_consumer_processed_total", "Messages processed", ["consumer", "outcome"])
DEAD_LETTERED = Counter("shixiang_consumer_dead_lettered_total", "Messages sent to the dead-letter topic", ["consumer"])
HTTP_LATENCY = Histogram(
    "shixiang_http_request_seconds", "HTTP request latency", ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
