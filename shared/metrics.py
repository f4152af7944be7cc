"""Prometheus metrics shared by every service (exposed at ``GET /metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

RELAY_PUBLISHED = Counter("shixiang_relay_published_total", "Events published to Kafka by the relay", ["source"])
RELAY_LAG = Gauge("shixiang_relay_lag_events", "Stored events not yet published (approximate)", ["source"])
CONSUMED = Counter("shixiang_consumer_processed_total",
                   "Messages by outcome: processed, duplicate, passed_over (a type the consumer does not act on), "
                   "dead_lettered", ["consumer", "outcome"])
DEAD_LETTERED = Counter("shixiang_consumer_dead_lettered_total",
                        "Messages dead-lettered, by kind: malformed, wrong_source, contract, refused, exhausted",
                        ["consumer", "kind"])
CONSUMER_LAG = Gauge("shixiang_consumer_lag_messages",
                     "Messages on the partition not yet taken by this consumer (high watermark less its position)",
                     ["consumer", "topic", "partition"])
CONSUMER_WAITING = Gauge("shixiang_consumer_waiting_seconds",
                         "How long the partition's oldest fetched, uncommitted message has waited (0: none); past "
                         "SHIXIANG_CONSUMER_STUCK_AFTER_S the service reports degraded",
                         ["consumer", "topic", "partition"])
CONSUMER_STUCK = Gauge("shixiang_consumer_stuck",
                       "1 while the partition's oldest fetched, uncommitted message has waited past "
                       "SHIXIANG_CONSUMER_STUCK_AFTER_S (the service reports degraded), else 0",
                       ["consumer", "topic", "partition"])
HTTP_LATENCY = Histogram(
    "shixiang_http_request_seconds", "HTTP request latency", ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OPERATIONS_LOGGED = Counter("shixiang_operations_logged_total",
                            "Events added to the sync gateway's operations log (the console's live events), by the "
                            "service that produced them", ["service"])
STORE_HEAD = Gauge("shixiang_store_head_position",
                   "The highest position in the service's event store (grows with every event appended: its rate is "
                   "the events appended per second)", ["service"])
RELAY_POSITION = Gauge("shixiang_relay_position",
                       "The store position of the relay's checkpoint (what it has published to Kafka)", ["service"])
DEAD_LETTERS_WAITING = Gauge("shixiang_dead_letters_waiting",
                             "Dead letters waiting for an administrator (neither replayed nor discarded), per consumer",
                             ["consumer"])
CONSUMER_GROUP_LAG = Gauge("shixiang_consumer_group_lag_messages",
                           "Consumer-group lag read from Kafka by the sync gateway: high watermark less the group's "
                           "committed offset, per partition", ["group", "topic", "partition"])
CONSUMER_GROUP_STUCK = Gauge("shixiang_consumer_group_stuck",
                             "1 while the sync gateway sees the partition stuck (see GET /sync/v1/console/pipeline)",
                             ["group", "topic", "partition"])
AUDIT_WRITTEN = Counter("shixiang_audit_written_total", "Audit records written to the service's audit log",
                        ["service"])
AUDIT_DROPPED = Counter("shixiang_audit_dropped_total",
                        "Audit records dropped because SHIXIANG_AUDIT_QUEUE_LIMIT records were already waiting (the "
                        "audit log could not be written): alert on any", ["service"])
AUDIT_WAITING = Gauge("shixiang_audit_waiting_records", "Audit records waiting to be written", ["service"])
