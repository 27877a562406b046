-- The feed's consumers (checkpoint and lease), webhook endpoints and their delivery
-- attempts. Each row keeps its record as JSON beside the keys it is found by: they
-- are few and small, and read whole. bytea, not jsonb: jsonb refuses U+0000.
CREATE TABLE {p}consumers (
    name text NOT NULL,
    record bytea NOT NULL,
    CONSTRAINT tenancy_consumers_pkey PRIMARY KEY (name)
);
CREATE TABLE {p}webhooks (
    id text NOT NULL,
    workspace_id text NOT NULL,
    record bytea NOT NULL,
    CONSTRAINT tenancy_webhooks_pkey PRIMARY KEY (id)
);
CREATE INDEX tenancy_webhooks_workspace ON {p}webhooks (workspace_id, id);
CREATE TABLE {p}webhook_attempts (
    endpoint_id text NOT NULL REFERENCES {p}webhooks (id) ON DELETE CASCADE,
    id text NOT NULL,
    record bytea NOT NULL,
    CONSTRAINT tenancy_webhook_attempts_pkey PRIMARY KEY (endpoint_id, id)
);
