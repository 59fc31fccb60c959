-- One sequencing round of the change events as one function, so that a
-- round is one statement (one round trip) instead of a transaction of
-- five. PostgreSQL only: SQLite numbers events as they are stored.
--
-- Numbers the visible events that have no id yet, in `seq` order, after
-- the last id given out, at most `batch` of them. Rounds are serialized by
-- an advisory lock held until the statement's transaction ends, and each
-- statement below takes its snapshot after the lock, so ids only ever grow
-- in the order rows became visible. Announces the highest id on
-- `conduit_event_ids` when it numbered any. Returns the highest id given
-- out so far.
CREATE FUNCTION conduit_sequence_events(batch BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    last_id BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('conduit_event_sequencer'));
    WITH pending AS (
             SELECT seq, row_number() OVER (ORDER BY seq) AS n
             FROM events WHERE id IS NULL ORDER BY seq LIMIT batch),
         base AS (SELECT value FROM counters WHERE name = 'event_ids'),
         assigned AS (
             UPDATE events SET id = base.value + pending.n
             FROM pending, base WHERE events.seq = pending.seq RETURNING events.id)
    UPDATE counters SET value = value + (SELECT count(*) FROM assigned)
    WHERE name = 'event_ids' AND (SELECT count(*) FROM assigned) > 0
    RETURNING value INTO last_id;
    IF last_id IS NOT NULL THEN
        PERFORM pg_notify('conduit_event_ids', last_id::text);
        RETURN last_id;
    END IF;
    SELECT value INTO last_id FROM counters WHERE name = 'event_ids';
    RETURN last_id;
END
$$;
