-- slipway's control plane: projects, their branches, builds and the queue, workers.
-- Constraint names are part of the contract: the Rust code maps violations of
-- the named ones to typed errors.

CREATE TABLE projects (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    repo_url text NOT NULL,
    odoo text NOT NULL,
    production_branch text NOT NULL,
    webhook_secret text NOT NULL,
    poll_interval_s int NOT NULL DEFAULT 60,
    quiet_period_s int NOT NULL DEFAULT 10,
    dev_builds_kept int NOT NULL DEFAULT 2,
    modules text[] NULL,
    test_tags text NULL,
    ignore_rules text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_name_unique UNIQUE (name),
    CONSTRAINT projects_name_valid CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    CONSTRAINT projects_poll_interval_positive CHECK (poll_interval_s > 0),
    CONSTRAINT projects_quiet_period_not_negative CHECK (quiet_period_s >= 0),
    CONSTRAINT projects_dev_builds_kept_not_negative CHECK (dev_builds_kept >= 0)
);

CREATE TABLE branches (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL,
    stage text NOT NULL CONSTRAINT branches_stage_valid
        CHECK (stage IN ('production', 'staging', 'development')),
    head text NULL,
    deleted_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT branches_name_unique UNIQUE (project_id, name)
);

-- Odoo.sh's rule, enforced by the database: one live production branch per project.
CREATE UNIQUE INDEX branches_one_production ON branches (project_id)
    WHERE stage = 'production' AND deleted_at IS NULL;

CREATE TABLE builds (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    branch_id bigint NOT NULL REFERENCES branches ON DELETE CASCADE,
    commit text NOT NULL,
    stage text NOT NULL CONSTRAINT builds_stage_valid
        CHECK (stage IN ('production', 'staging', 'development')),
    state text NOT NULL CONSTRAINT builds_state_valid
        CHECK (state IN ('pending', 'running', 'serving', 'stopped', 'done')),
    status text NULL CONSTRAINT builds_status_valid
        CHECK (status IN ('success', 'warning', 'failed', 'killed')),
    not_before timestamptz NOT NULL DEFAULT now(),
    attempts int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL DEFAULT 3,
    worker text NULL,
    lease_until timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz NULL,
    finished_at timestamptz NULL,
    stopped_at timestamptz NULL,
    url text NULL,
    port int NULL,
    database text NULL,
    log_path text NULL,
    report jsonb NULL,
    reason text NULL,
    -- A build has an outcome exactly when it is no longer queued or running.
    CONSTRAINT builds_status_matches_state
        CHECK ((state IN ('pending', 'running')) = (status IS NULL)),
    -- A running build is always owned by a worker under a lease.
    CONSTRAINT builds_running_is_leased
        CHECK ((state = 'running') = (lease_until IS NOT NULL)
               AND (state <> 'running' OR worker IS NOT NULL)),
    CONSTRAINT builds_attempts_valid CHECK (attempts >= 0 AND max_attempts >= 1),
    CONSTRAINT builds_port_valid CHECK (port BETWEEN 1 AND 65535)
);

-- The queue: claim() scans pending builds by (not_before, id).
CREATE INDEX builds_queue ON builds (not_before, id) WHERE state = 'pending';
-- At most one pending build per branch: a newer commit supersedes the queued one
-- (enqueue() is an upsert on this index).
CREATE UNIQUE INDEX builds_one_pending_per_branch ON builds (branch_id) WHERE state = 'pending';
-- At most one running build per branch; also answers claim()'s "is another build
-- of this branch running?".
CREATE UNIQUE INDEX builds_one_running_per_branch ON builds (branch_id) WHERE state = 'running';
-- Listings, newest first (also the foreign keys' indexes for the cascades).
-- A project's page is ordered by (created_at, id), an order the primary key
-- cannot give: otherwise the planner, assuming a project's builds spread evenly
-- over ids, may walk the primary key backwards past every newer build of other
-- projects (an old, quiet project would cost a scan of the table).
CREATE INDEX builds_by_project ON builds (project_id, created_at DESC, id DESC);
-- A branch is selective enough for (branch_id, id).
CREATE INDEX builds_by_branch ON builds (branch_id, id DESC);
-- reclaim_expired(): running builds by lease.
CREATE INDEX builds_running_by_lease ON builds (lease_until) WHERE state = 'running';
-- release(): a worker's live builds.
CREATE INDEX builds_live_by_worker ON builds (worker) WHERE state IN ('running', 'serving');

-- Wakes idle workers (LISTEN slipway_builds): the payload is the build's id.
-- Delivered on commit; heartbeats (lease_until only) stay silent.
CREATE FUNCTION slipway_notify_build() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('slipway_builds', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER builds_notify_insert AFTER INSERT ON builds
    FOR EACH ROW EXECUTE FUNCTION slipway_notify_build();

CREATE TRIGGER builds_notify_update AFTER UPDATE OF state, commit, not_before ON builds
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
          OR OLD.commit IS DISTINCT FROM NEW.commit
          OR OLD.not_before IS DISTINCT FROM NEW.not_before)
    EXECUTE FUNCTION slipway_notify_build();

CREATE TABLE workers (
    name text PRIMARY KEY,
    host text NOT NULL,
    max_builds int NOT NULL CONSTRAINT workers_max_builds_positive CHECK (max_builds > 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
