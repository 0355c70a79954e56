-- People: accounts, their roles per project, web sessions, API tokens, and the
-- one-time tickets that open a build's address in a browser.
-- Secrets are stored as SHA-256 of random tokens (tokens carry 192+ bits: a
-- slow hash adds nothing); passwords as argon2id PHC strings.

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    login text NOT NULL,
    password_hash text NOT NULL,
    -- Everything on every project, and the accounts themselves.
    is_admin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_login_unique UNIQUE (login),
    CONSTRAINT users_login_valid CHECK (login ~ '^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$')
);

-- Odoo.sh's roles, per project: admin (everything), developer (every branch;
-- production read-only), tester (staging and development builds only).
CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role text NOT NULL CONSTRAINT project_members_role_valid
        CHECK (role IN ('admin', 'developer', 'tester')),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_by_user ON project_members (user_id);

CREATE TABLE sessions (
    id bigserial PRIMARY KEY,
    token_sha256 text NOT NULL,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    -- Every form and state-changing request of the session carries it.
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- Idle expiry, pushed forward while the session is used, never past
    -- created_at + the absolute lifetime (the code's constants).
    expires_at timestamptz NOT NULL,
    CONSTRAINT sessions_token_unique UNIQUE (token_sha256)
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    token_sha256 text NOT NULL,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NULL,
    CONSTRAINT api_tokens_token_unique UNIQUE (token_sha256),
    CONSTRAINT api_tokens_name_valid CHECK (length(name) BETWEEN 1 AND 100)
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- A one-time ticket: the UI hands it to the browser in a redirect to the
-- build's own address, where the proxy redeems it once, within seconds, for a
-- cookie of that address (cookies of the UI never reach builds' addresses).
CREATE TABLE build_tickets (
    token_sha256 text PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES sessions ON DELETE CASCADE,
    build_id bigint NOT NULL REFERENCES builds ON DELETE CASCADE,
    -- Log into the build's Odoo as this user; NULL: only open the address.
    odoo_login text NULL,
    next_path text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX build_tickets_by_expiry ON build_tickets (expires_at);

-- What a redeemed ticket gives: access to one build's address, as long as the
-- UI session it came from lives (logging out closes every build with it).
CREATE TABLE build_access (
    token_sha256 text PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES sessions ON DELETE CASCADE,
    build_id bigint NOT NULL REFERENCES builds ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX build_access_by_session ON build_access (session_id);
CREATE INDEX build_access_by_build ON build_access (build_id);

-- Revocations (logout, removed accounts and roles) are announced so that
-- servers caching access decisions drop them at once.
CREATE FUNCTION slipway_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('slipway_access', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_access AFTER DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_access();
CREATE TRIGGER users_notify_access AFTER DELETE OR UPDATE OF is_admin ON users
    FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_access();
CREATE TRIGGER project_members_notify_access AFTER INSERT OR UPDATE OR DELETE ON project_members
    FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_access();
CREATE TRIGGER api_tokens_notify_access AFTER DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_access();

-- Changes to a branch itself (new, deleted, stage) wake the live pages too;
-- the payload is the project's id.
CREATE FUNCTION slipway_notify_branch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('slipway_branches', NEW.project_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER branches_notify_insert AFTER INSERT ON branches
    FOR EACH ROW EXECUTE FUNCTION slipway_notify_branch();
CREATE TRIGGER branches_notify_update AFTER UPDATE OF stage, deleted_at, head ON branches
    FOR EACH ROW
    WHEN (OLD.stage IS DISTINCT FROM NEW.stage
          OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
          OR OLD.head IS DISTINCT FROM NEW.head)
    EXECUTE FUNCTION slipway_notify_branch();

ALTER TABLE projects
    -- Where a commit's changes are shown, `{commit}` replaced by its hash
    -- (e.g. https://github.com/acme/addons/commit/{commit}).
    ADD COLUMN commit_url text NULL
        CONSTRAINT projects_commit_url_valid
        CHECK (commit_url ~ '^https?://[^\s<>"]+$' AND position('{commit}' IN commit_url) > 0);

ALTER TABLE builds
    -- Someone asked (from the stopped build's page) for it to serve again; its
    -- worker does it and clears this.
    ADD COLUMN restart_requested_at timestamptz NULL;
CREATE INDEX builds_restart_requested ON builds (worker)
    WHERE restart_requested_at IS NOT NULL;
