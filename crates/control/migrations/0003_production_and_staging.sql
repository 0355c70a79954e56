-- Production and staging: databases carried forward from build to build, test
-- duplicates of production, and the mail non-production builds send.

ALTER TABLE projects
    -- `-u all` on every production/staging update instead of the changed modules.
    ADD COLUMN update_all boolean NOT NULL DEFAULT false,
    -- Where a staging build's database comes from: a fresh copy of production
    -- (Odoo.sh's default) or the branch's previous staging build.
    ADD COLUMN staging_source text NOT NULL DEFAULT 'production'
        CONSTRAINT projects_staging_source_valid CHECK (staging_source IN ('production', 'previous'));

ALTER TABLE builds
    -- A test duplicate of production: a neutralized copy at production's commit.
    ADD COLUMN duplicate boolean NOT NULL DEFAULT false,
    -- The mail catcher's credential of the build (its SHA-256; the build's
    -- Odoo has the secret in its configuration).
    ADD COLUMN mail_secret_sha256 text NULL;

-- production_build(): the serving production build of a project.
CREATE INDEX builds_serving_production ON builds (project_id, id DESC)
    WHERE stage = 'production' AND state = 'serving' AND NOT duplicate;

CREATE TABLE mails (
    id bigserial PRIMARY KEY,
    build_id bigint NOT NULL REFERENCES builds ON DELETE CASCADE,
    envelope_from text NOT NULL,
    envelope_to text[] NOT NULL,
    header_from text NOT NULL,
    header_to text[] NOT NULL,
    subject text NOT NULL,
    date text NULL,
    raw bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mails_by_build ON mails (build_id, id);
