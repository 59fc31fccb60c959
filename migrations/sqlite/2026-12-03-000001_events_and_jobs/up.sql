-- Change events and the job queue. Kept equivalent to ../../postgres.

-- What committed writes changed. SQLite has one writer at a time, so an
-- event's id is its `seq` (AUTOINCREMENT: never reused once committed),
-- given by the trigger below as the row goes in, in commit order
-- (PostgreSQL leaves that to a sequencer: see ../../postgres).
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          BIGINT    CONSTRAINT events_id_unique UNIQUE,
    kind        TEXT      NOT NULL,
    payload     TEXT      NOT NULL,
    origin      TEXT      NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
-- The rows still waiting for an id.
CREATE INDEX events_unsequenced_idx ON events (seq) WHERE id IS NULL;
-- Pruning by age.
CREATE INDEX events_recorded_idx ON events (recorded_at);
-- Kept as on PostgreSQL, where it holds the last id given out.
INSERT INTO counters (name, value) VALUES ('event_ids', 0);
CREATE TRIGGER events_numbered AFTER INSERT ON events FOR EACH ROW WHEN NEW.id IS NULL
BEGIN
    UPDATE events SET id = NEW.seq WHERE seq = NEW.seq;
END;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue        TEXT      NOT NULL,
    kind         TEXT      NOT NULL,
    -- The arguments, as JSON.
    payload      TEXT      NOT NULL,
    state        TEXT      NOT NULL CONSTRAINT jobs_state_check CHECK (state IN
                     ('available', 'scheduled', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
    -- Lower numbers run first.
    priority     BIGINT    NOT NULL,
    attempt      BIGINT    NOT NULL DEFAULT 0,
    max_attempts BIGINT    NOT NULL,
    run_at       TIMESTAMP NOT NULL,
    unique_key   TEXT,
    timeout_ms   BIGINT    NOT NULL,
    -- Every failed attempt, as a JSON array of {attempt, at, error}.
    errors       TEXT      NOT NULL DEFAULT '[]',
    attempted_by TEXT,
    created_at   TIMESTAMP NOT NULL,
    attempted_at TIMESTAMP,
    heartbeat_at TIMESTAMP,
    finished_at  TIMESTAMP
);
-- Claiming: the due jobs of a queue, most urgent first.
CREATE INDEX jobs_due_idx ON jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
-- Rescuing: running jobs by their last heartbeat.
CREATE INDEX jobs_running_idx ON jobs (heartbeat_at) WHERE state = 'running';
-- Pruning: finished jobs by age.
CREATE INDEX jobs_finished_idx ON jobs (finished_at)
    WHERE state IN ('completed', 'discarded', 'cancelled');
-- At most one pending or running job per unique key.
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

-- Periodic jobs: when each is next due. Moving `next_run_at` with a
-- compare-and-set decides which instance enqueues a run.
CREATE TABLE job_schedules (
    name        TEXT      NOT NULL PRIMARY KEY,
    next_run_at TIMESTAMP NOT NULL
);
