-- Odoo from source: which repositories a project takes Odoo from, how it
-- follows them, a branch's own pin of Odoo, and the exact commits of each build.

ALTER TABLE projects
    -- [{"kind": "odoo"|"enterprise"|"addons", "url": "...", "rev": "19.0"|null}],
    -- Odoo's own first; empty: Debian's packaged Odoo of `odoo`. URLs may hold
    -- credentials (never shown: the API redacts them).
    ADD COLUMN odoo_sources jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT projects_odoo_sources_list CHECK (jsonb_typeof(odoo_sources) = 'array'),
    -- When a followed source moves, development and staging branches build
    -- again on it: at once, once a day, or never (production never does).
    ADD COLUMN odoo_follow text NOT NULL DEFAULT 'on-change'
        CONSTRAINT projects_odoo_follow_valid CHECK (odoo_follow IN ('on-change', 'daily', 'never'));

ALTER TABLE branches
    -- This branch's revision of Odoo's own source instead of the project's
    -- (a pinned commit); NULL: the project's.
    ADD COLUMN odoo_rev text NULL;

ALTER TABLE builds
    -- The sources resolved when the build was queued:
    -- [{"kind", "name", "url" (no credentials), "commit", "branch"|null}].
    ADD COLUMN sources jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT builds_sources_list CHECK (jsonb_typeof(sources) = 'array');
