-- tenancy schema 1. {p} is the table prefix: "tenancy_", or "<schema>".tenancy_.
-- Key columns use the "C" collation, so they order bytewise as on every backend.
-- Times are timestamptz (NULL for the zero time); metadata and event data jsonb.
-- Referential integrity is the Manager's (one transaction per operation); the
-- constraints here are the unique indexes the contract names.

CREATE TABLE {p}users (
    id         text COLLATE "C" NOT NULL,
    email      text COLLATE "C" NOT NULL,
    name       text NOT NULL,
    platform   boolean NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    CONSTRAINT tenancy_users_pkey PRIMARY KEY (id),
    CONSTRAINT tenancy_users_email_key UNIQUE (email)
);

CREATE TABLE {p}workspaces (
    id          text COLLATE "C" NOT NULL,
    slug        text COLLATE "C" NOT NULL,
    name        text NOT NULL,
    name_lower  text NOT NULL, -- Go's strings.ToLower(name), for the name search
    description text NOT NULL,
    status      text NOT NULL,
    metadata    jsonb,
    external_id text COLLATE "C",
    starter_kit text NOT NULL,
    owner_id    text COLLATE "C" NOT NULL,
    created_at  timestamptz,
    updated_at  timestamptz,
    deleted_at  timestamptz,
    CONSTRAINT tenancy_workspaces_pkey PRIMARY KEY (id),
    CONSTRAINT tenancy_workspaces_slug_key UNIQUE (slug),
    CONSTRAINT tenancy_workspaces_external_id_key UNIQUE (external_id)
);
-- Retention: deleted workspaces by deletion time, so the job's cost follows matches.
-- Filtered lists: by status, and by substring of the lowercased name (pg_trgm, a
-- trusted extension: creating it needs CREATE on the database, not a superuser).
CREATE INDEX tenancy_workspaces_status ON {p}workspaces (status, id);
-- trigram:begin (left out under the scanning search, for engines without pg_trgm)
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- fastupdate off: the pending list of a fast-update GIN index is read in full by every
-- search until vacuum merges it, so a burst of sign-ups would slow every search.
CREATE INDEX tenancy_workspaces_name ON {p}workspaces USING gin (name_lower gin_trgm_ops) WITH (fastupdate = off);
-- trigram:end
-- The zero time (NULL) sorts first, as -infinity.
CREATE INDEX tenancy_workspaces_deleted ON {p}workspaces ((coalesce(deleted_at, '-infinity')), id) WHERE status = 'deleted';

CREATE TABLE {p}members (
    workspace_id text COLLATE "C" NOT NULL,
    user_id      text COLLATE "C" NOT NULL,
    role         text NOT NULL,
    owner        boolean NOT NULL,
    invited_by   text COLLATE "C" NOT NULL,
    joined_at    timestamptz,
    updated_at   timestamptz,
    CONSTRAINT tenancy_members_pkey PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX tenancy_members_user ON {p}members (user_id, workspace_id);

CREATE TABLE {p}invitations (
    id           text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    email        text COLLATE "C" NOT NULL,
    role         text NOT NULL,
    inviter_id   text COLLATE "C" NOT NULL,
    secret_hash  bytea NOT NULL,
    hint         text NOT NULL,
    created_at   timestamptz,
    expires_at   timestamptz,
    accepted_at  timestamptz,
    accepted_by  text COLLATE "C" NOT NULL,
    revoked_at   timestamptz,
    CONSTRAINT tenancy_invitations_pkey PRIMARY KEY (id),
    CONSTRAINT tenancy_invitations_secret_hash_key UNIQUE (secret_hash)
);
CREATE INDEX tenancy_invitations_workspace ON {p}invitations (workspace_id, id);

CREATE TABLE {p}tokens (
    id           text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    name         text NOT NULL,
    user_id      text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    role         text NOT NULL,
    hash         bytea NOT NULL,
    hint         text NOT NULL,
    created_at   timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT tenancy_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT tenancy_tokens_hash_key UNIQUE (hash)
);
CREATE INDEX tenancy_tokens_workspace ON {p}tokens (workspace_id, id) WHERE workspace_id <> '';
CREATE INDEX tenancy_tokens_user ON {p}tokens (user_id, id);

-- The feed. Each row records its transaction (xid) and a sequence number; readers
-- stop below the oldest running transaction, so a late commit is read late, never
-- skipped. With the head-row strategy xid is 0 and seq comes from feed_head, whose
-- single row every appending transaction updates (gap-free, in commit order); a
-- schema made for the head-row feed declares xid bigint (the placeholder below).
CREATE SEQUENCE {p}events_seq;
CREATE TABLE {p}events (
    xid          {xid8} NOT NULL,
    seq          bigint NOT NULL,
    id           text COLLATE "C" NOT NULL,
    type         text NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    actor        text NOT NULL,
    subject      text NOT NULL,
    data         jsonb,
    time         timestamptz,
    CONSTRAINT tenancy_events_pkey PRIMARY KEY (xid, seq)
);
CREATE INDEX tenancy_events_workspace ON {p}events (workspace_id, xid, seq) WHERE workspace_id <> '';
CREATE TABLE {p}feed_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    last bigint NOT NULL
);
INSERT INTO {p}feed_head (last) VALUES (0);

-- Counters are sharded: a writer adds to its own shard, readers sum.
CREATE TABLE {p}counters (
    name  text COLLATE "C" NOT NULL,
    shard integer NOT NULL,
    value bigint NOT NULL,
    CONSTRAINT tenancy_counters_pkey PRIMARY KEY (name, shard)
);

CREATE TABLE {p}settings (
    name  text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    CONSTRAINT tenancy_settings_pkey PRIMARY KEY (name)
);
