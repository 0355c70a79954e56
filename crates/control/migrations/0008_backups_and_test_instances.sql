-- Backups of production (slipway_backup): the files live in the backup
-- directory, under <project>/<id>; this row is what is known of them.
CREATE TABLE backups (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind text NOT NULL
        CONSTRAINT backups_kind CHECK (kind IN ('daily', 'weekly', 'monthly', 'manual', 'pre-update', 'import')),
    -- requested → running → done | failed; deleted by retention or by hand.
    state text NOT NULL DEFAULT 'requested'
        CONSTRAINT backups_state CHECK (state IN ('requested', 'running', 'done', 'failed', 'deleted')),
    verification text NOT NULL DEFAULT 'pending'
        CONSTRAINT backups_verification CHECK (verification IN ('pending', 'ok', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz NULL,
    verified_at timestamptz NULL,
    size_bytes bigint NULL CONSTRAINT backups_size CHECK (size_bytes >= 0),
    stored_bytes bigint NULL CONSTRAINT backups_stored CHECK (stored_bytes >= 0),
    -- The production build it was taken of.
    source_build bigint NULL REFERENCES builds (id) ON DELETE SET NULL,
    worker text NULL,
    -- Why it failed, or what its verification found.
    reason text NULL,
    -- An import: the uploaded zip (its path on the server's host) and the
    -- name the user gave it.
    upload_path text NULL,
    upload_name text NULL
);
CREATE INDEX backups_of_project ON backups (project_id, id DESC);

-- When each project's daily backup runs (UTC), and how many are kept.
ALTER TABLE projects
    ADD COLUMN backups jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT projects_backups_object CHECK (jsonb_typeof(backups) = 'object');

-- Long-lived neutralized copies of production, restored from a backup.
CREATE TABLE test_instances (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT test_instances_name_unique UNIQUE (project_id, name)
);

-- A build whose database comes from a backup (a restore of production, of a
-- staging branch, a test instance), and the test instance it serves.
ALTER TABLE builds
    ADD COLUMN restore_backup bigint NULL REFERENCES backups (id) ON DELETE SET NULL,
    ADD COLUMN test_instance_id bigint NULL REFERENCES test_instances (id) ON DELETE SET NULL;
