-- Serving builds across worker restarts, and the cleanup of stopped ones.

-- Stopped because its worker shut down cleanly (release()): the worker serves it
-- again when it comes back (builds_to_resume(), resume_serving()).
ALTER TABLE builds
    ADD COLUMN resumable boolean NOT NULL DEFAULT false,
    -- When the stopped build's database and files were dropped.
    ADD COLUMN collected_at timestamptz NULL;

-- A worker's stopped builds not collected yet: stopped_builds_to_collect() and
-- builds_to_resume().
CREATE INDEX builds_stopped_by_worker ON builds (worker, stopped_at)
    WHERE state = 'stopped' AND collected_at IS NULL;
