"""The sync gateway's tables (besides the event store): the feed, the catalogue read model, national feedback, the
operations log and webhook subscriptions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

sync_metadata = MetaData()

# The national feed: one entry per public lifecycle event (position = cursor; unique source event id, so
# redelivery never duplicates).
feed_entries_table = Table(
    "feed_entries",
    sync_metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("item_id", Text, nullable=False, index=True),
    Column("item_version", Integer, nullable=False),
    Column("type", Text, nullable=False),
    # The published record's region, beside the entry: a caller of some regions reads only its own, and filtering
    # on this column spares PostgreSQL reading the (TOASTed) entries of the others.
    Column("region_code", Text, nullable=False),
    Column("entry", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# Each published item's latest entry (the snapshot lists those online).
catalog_table = Table(
    "catalog",
    sync_metadata,
    Column("item_id", Text, primary_key=True),
    Column("item_version", Integer, nullable=False),
    Column("code", Text, index=True),
    Column("phase", Text, nullable=False),
    Column("region_code", Text, index=True),
    Column("entry", JSONB, nullable=False),
    Column("feed_position", BigInteger, nullable=False),
)
# The catalogue's pages (GET /sync/v1/catalog, adapters.catalogue): items in the states asked for, in item id order
# from a cursor (migration sync_0002).
Index("catalog_state_order", catalog_table.c.phase, catalog_table.c.item_id)
# The latest national answer per item version (the read model of the sync.national.* events, written with them).
national_feedback_table = Table(
    "national_feedback",
    sync_metadata,
    Column("item_id", Text, nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("result", Text, nullable=False),
    Column("reason", Text),
    Column("note", Text),
    Column("code", Text),
    Column("feed_sequence", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("item_id", "item_version", name="national_feedback_pk"),
)

# The operations log (运维事件日志): every event of every service's topic, as the operators' console shows it
# (``domain.operations``). Append-only; its position is the live stream's SSE id; the unique event id makes a
# redelivery a no-op. Rows older than ``operations_log_days`` are pruned (``adapters.operations.prune``).
operations_log_table = Table(
    "operations_log",
    sync_metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("service", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("item_id", Text, nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("actor", Text),
    Column("reason", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("correlation_id", Text),
    Column("details", JSONB, nullable=False),
    Index("operations_log_item", "item_id", "position"),
)
# Each item's latest known name, code, region and police type, from whichever event carried them. Filters by
# region and police type join it at read time: the topics are not ordered against each other, so the event that
# tells an item's region may arrive after the item's other events.
operations_items_table = Table(
    "operations_items",
    sync_metadata,
    Column("item_id", Text, primary_key=True),
    Column("name", Text),
    Column("code", Text),
    Column("region_code", Text),
    Column("police_type", Text),
)

# The exchange database's feedback read so far: the last ``dn_audit_abnormal`` id recorded (``service_layer.
# exchange``), updated in the transaction that records the rejection, so each row is recorded once.
exchange_feedback_cursor_table = Table(
    "exchange_feedback_cursor",
    sync_metadata,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
)
# The feed's epoch (同步源纪元): one row, a random id made with the gateway's store (the first process to start on an
# empty database writes it). Positions are cursors within one epoch only: a store made anew (``shixiang dev
# --fresh``, a new database) has a new epoch, and so has a restored one once ``shixiang feed-epoch --renew`` ran
# (a restore brings back the backup's row with the backup's feed, whose positions clients may have read past).
feed_epoch_table = Table(
    "feed_epoch",
    sync_metadata,
    Column("id", Integer, primary_key=True),  # always 1: the one row
    Column("epoch", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# Webhook subscriptions (回调订阅, docs/webhooks.md) and their delivery progress. ``secret`` (and, during a
# rotation's overlap, ``previous_secret``) is kept as issued: HMAC signing needs the key itself, so it cannot be
# hashed; it is returned only when issued and protected as the gateway's database is. ``cursor`` is the feed
# position up to which the subscription has been served (delivered, or not its own); ``failures`` counts the failed
# attempts of the next message, retried at ``next_attempt_at``. A delivery worker holds the subscription while
# ``lease_until`` lies ahead (one message in flight per subscription, across processes); ``generation`` changes on
# a replay, so that a worker's progress from before it is not written over it.
webhook_subscriptions_table = Table(
    "webhook_subscriptions",
    sync_metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text)),
    Column("regions", ARRAY(Text)),
    Column("description", Text),
    Column("secret", Text, nullable=False),
    # hmac-sha256 (Standard Webhooks' v1) or hmac-sm3 (v1sm3): sync_gateway.domain.webhooks.SignatureAlgorithm
    Column("signature_algorithm", Text, nullable=False, server_default="hmac-sha256"),
    Column("previous_secret", Text),
    Column("previous_secret_until", DateTime(timezone=True)),
    Column("status", Text, nullable=False),
    Column("disabled_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("lease_owner", Text),
    Column("lease_until", DateTime(timezone=True)),
)
# Every delivery attempt (the delivery log of a subscription).
webhook_deliveries_table = Table(
    "webhook_deliveries",
    sync_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("subscription_id", Text, nullable=False),
    Column("feed_position", BigInteger, nullable=False),
    Column("webhook_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error", Text),
    Column("signature_algorithm", Text, nullable=False, server_default="hmac-sha256"),  # what signed the attempt
    Index("webhook_deliveries_subscription", "subscription_id", "id"),
)
