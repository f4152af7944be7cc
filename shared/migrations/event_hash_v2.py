"""Revision 2 of the event store in every service database: each event records the algorithm of its chain link
(``events.hash_alg``, SHA-256 for every event written before), and ``shixiang_append`` takes the links an SM3 store
computes itself (PostgreSQL has no SM3) with the heads they extend (see ``shared.eventstore.APPEND_FUNCTION``).

Frozen like :mod:`shared.migrations.schema_v1`: a later change is a new revision with its own SQL."""

from alembic import op

from shared.migrations import schema_v1

# Revision 1's function, by its argument types (a function is replaced only with the same ones; the new one has
# three more, so the old one is dropped, not left beside it as an overload).
OLD_SIGNATURE = ("shixiang_append(text[], int[], int[], uuid[], text[], text[], text[], text[], text[], "
                 "timestamptz[], text[])")
NEW_SIGNATURE = ("shixiang_append(text[], int[], int[], uuid[], text[], text[], text[], text[], text[], "
                 "timestamptz[], text[], text, text[], text[])")

# shared.eventstore.APPEND_FUNCTION as of this revision.
APPEND_FUNCTION_V2 = """
CREATE OR REPLACE FUNCTION shixiang_append(
    p_streams text[], p_expected int[], p_counts int[], p_event_ids uuid[], p_types text[], p_datas text[],
    p_actors text[], p_correlations text[], p_causations text[], p_recorded_ats timestamptz[], p_contents text[],
    p_alg text, p_heads text[], p_hashes text[])
RETURNS TABLE (out_position bigint, out_hash text) LANGUAGE plpgsql AS $$
DECLARE
    total int := coalesce(array_length(p_event_ids, 1), 0);
    hashes text[] := coalesce(p_hashes, array_fill(NULL::text, ARRAY[total]));
    versions int[] := array_fill(NULL::int, ARRAY[total]);
    streams text[] := array_fill(NULL::text, ARRAY[total]);
    head_version int;
    head_hash text;
    previous text;
    j int := 0;
BEGIN
    IF p_hashes IS NULL AND p_alg <> 'sha256' THEN
        RAISE EXCEPTION 'shixiang_append computes sha256 links only; % links come computed (p_hashes)', p_alg;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        head_version := NULL;
        head_hash := NULL;
        SELECT e.version, e.hash INTO head_version, head_hash FROM events e
        WHERE e.stream_id = p_streams[i] ORDER BY e.version DESC LIMIT 1;
        previous := coalesce(head_hash, repeat('0', 64));
        IF coalesce(head_version, 0) <> p_expected[i] OR (p_heads IS NOT NULL AND previous <> p_heads[i]) THEN
            RAISE EXCEPTION USING ERRCODE = 'SX409', MESSAGE = 'stream is not at the expected version',
                DETAIL = p_streams[i], HINT = coalesce(head_version, 0)::text;
        END IF;
        FOR k IN 1 .. p_counts[i] LOOP
            j := j + 1;
            IF p_hashes IS NULL THEN
                previous := encode(sha256(convert_to(previous || p_contents[j], 'UTF8')), 'hex');
                hashes[j] := previous;
            END IF;
            versions[j] := p_expected[i] + k;
            streams[j] := p_streams[i];
        END LOOP;
    END LOOP;
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO events (stream_id, version, event_id, type, data, actor, correlation_id, causation_id,
                            recorded_at, hash, hash_alg)
        SELECT n.stream_id, n.version, n.event_id, n.type, n.data::jsonb, n.actor, n.correlation_id,
               n.causation_id, n.recorded_at, n.hash, p_alg
        FROM unnest(streams, versions, p_event_ids, p_types, p_datas, p_actors, p_correlations, p_causations,
                    p_recorded_ats, hashes) WITH ORDINALITY
             AS n(stream_id, version, event_id, type, data, actor, correlation_id, causation_id, recorded_at, hash,
                  ord)
        ORDER BY n.ord
        RETURNING events.position, events.hash)
    SELECT inserted.position, inserted.hash FROM inserted ORDER BY inserted.position;
END $$"""


def upgrade() -> None:
    # A constant default: PostgreSQL 11+ records it in the catalogue and rewrites no row, so the column comes
    # without locking the events table for longer than the ALTER itself. IF NOT EXISTS: a database made by
    # create_all from models that already had it is adopted at revision 1.
    op.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS hash_alg text NOT NULL DEFAULT 'sha256'")
    op.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE}")
    op.execute(APPEND_FUNCTION_V2)


def downgrade() -> None:
    # Only a store that never chained with SM3 can go back: revision 1 has nowhere to record the algorithm, and its
    # events would no longer verify.
    op.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM events WHERE hash_alg <> 'sha256') THEN "
               "RAISE EXCEPTION 'events chained with another algorithm than sha256: cannot downgrade'; "
               "END IF; END $$")
    op.execute(f"DROP FUNCTION IF EXISTS {NEW_SIGNATURE}")
    op.execute(schema_v1.APPEND_FUNCTION)
    op.drop_column("events", "hash_alg")
