"""The tables every service database shares (the event store: events, relay checkpoints, processed events; the
dead letters) and the event store's append function, as the first revision of every service's history makes them.

Frozen: a released revision never changes, so this module never does either. A later change of these tables (or of
``shared.eventstore.APPEND_FUNCTION``) is a new revision in each service's history, with its own SQL."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# shared.eventstore.APPEND_FUNCTION as of the first revision.
APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION shixiang_append(
    p_streams text[], p_expected int[], p_counts int[], p_event_ids uuid[], p_types text[], p_datas text[],
    p_actors text[], p_correlations text[], p_causations text[], p_recorded_ats timestamptz[], p_contents text[])
RETURNS TABLE (out_position bigint, out_hash text) LANGUAGE plpgsql AS $$
DECLARE
    total int := coalesce(array_length(p_event_ids, 1), 0);
    hashes text[] := array_fill(NULL::text, ARRAY[total]);
    versions int[] := array_fill(NULL::int, ARRAY[total]);
    streams text[] := array_fill(NULL::text, ARRAY[total]);
    head_version int;
    head_hash text;
    previous text;
    j int := 0;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        head_version := NULL;
        head_hash := NULL;
        SELECT e.version, e.hash INTO head_version, head_hash FROM events e
        WHERE e.stream_id = p_streams[i] ORDER BY e.version DESC LIMIT 1;
        IF coalesce(head_version, 0) <> p_expected[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'SX409', MESSAGE = 'stream is not at the expected version',
                DETAIL = p_streams[i], HINT = coalesce(head_version, 0)::text;
        END IF;
        previous := coalesce(head_hash, repeat('0', 64));
        FOR k IN 1 .. p_counts[i] LOOP
            j := j + 1;
            previous := encode(sha256(convert_to(previous || p_contents[j], 'UTF8')), 'hex');
            hashes[j] := previous;
            versions[j] := p_expected[i] + k;
            streams[j] := p_streams[i];
        END LOOP;
    END LOOP;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (stream_id, version, event_id, type, data, actor, correlation_id, causation_id,
                            recorded_at, hash)
        SELECT n.stream_id, n.version, n.event_id, n.type, n.data::jsonb, n.actor, n.correlation_id,
               n.causation_id, n.recorded_at, n.hash
        FROM unnest(streams, versions, p_event_ids, p_types, p_datas, p_actors, p_correlations, p_causations,
                    p_recorded_ats, hashes) WITH ORDINALITY
             AS n(stream_id, version, event_id, type, data, actor, correlation_id, causation_id, recorded_at, hash,
                  ord)
        ORDER BY n.ord
        RETURNING events.position, events.hash)
    SELECT inserted.position, inserted.hash FROM inserted ORDER BY inserted.position;
END $$"""


def create_event_store() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("stream_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("causation_id", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column(
            "tx_id", sa.BigInteger(), server_default=sa.text("pg_current_xact_id()::text::bigint"), nullable=False
        ),
        sa.PrimaryKeyConstraint("stream_id", "version", name="events_stream_version_pk"),
        sa.UniqueConstraint("event_id"),
        postgresql_with={"toast_tuple_target": 8160},
    )
    op.create_index("events_tx_order", "events", ["tx_id", "position"], unique=False)
    op.create_table(
        "relay_checkpoints",
        sa.Column("relay", sa.Text(), nullable=False),
        sa.Column("tx_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("relay"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="processed_events_pk"),
    )
    op.execute(APPEND_FUNCTION)


def drop_event_store() -> None:
    op.execute("DROP FUNCTION shixiang_append")
    op.drop_index("events_tx_order", table_name="events")
    op.drop_table("events")
    op.drop_table("relay_checkpoints")
    op.drop_table("processed_events")


def create_dead_letters() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default="waiting", nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("replays", sa.Integer(), server_default="0", nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("sent_to_topic", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consumer", "topic", "partition", "offset", name="dead_letters_message_uq"),
    )
    op.create_index("dead_letters_status", "dead_letters", ["status", "id"], unique=False)
    op.create_table(
        "dead_letter_actions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("dead_letter_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("dead_letter_actions_letter", "dead_letter_actions", ["dead_letter_id", "id"], unique=False)


def drop_dead_letters() -> None:
    op.drop_index("dead_letters_status", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("dead_letter_actions_letter", table_name="dead_letter_actions")
    op.drop_table("dead_letter_actions")
