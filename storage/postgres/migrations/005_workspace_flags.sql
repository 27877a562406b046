-- The host's named flags of a workspace (tenancy.Options.WorkspaceFlags), sorted:
-- empty on every row from before.
ALTER TABLE {p}workspaces ADD COLUMN flags text[] NOT NULL DEFAULT '{}';
