-- A project's own memory limits per stage and the addresses its development
-- and staging builds may reach (slipway_api::ProjectLimits; {} = defaults).
ALTER TABLE projects
    ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT projects_limits_object CHECK (jsonb_typeof(limits) = 'object');

-- The disk a kept build uses, as last measured by its worker.
ALTER TABLE builds
    ADD COLUMN database_bytes bigint NULL,
    ADD COLUMN files_bytes bigint NULL,
    ADD COLUMN disk_measured_at timestamptz NULL,
    ADD CONSTRAINT builds_disk_use_whole CHECK (
        (database_bytes IS NULL) = (disk_measured_at IS NULL)
        AND (files_bytes IS NULL) = (disk_measured_at IS NULL)
        AND coalesce(database_bytes, 0) >= 0 AND coalesce(files_bytes, 0) >= 0);
