-- A deleted workspace remembers the status it had, so a restore returns to it:
-- '' on rows deleted before (they come back active, as they did then).
ALTER TABLE {p}workspaces ADD COLUMN deleted_from text NOT NULL DEFAULT '';
-- The suspended users, few, found without reading every user: New and the usage
-- flush check that their tokens carry the suspension.
CREATE INDEX tenancy_users_suspended ON {p}users (id) WHERE suspended_at IS NOT NULL;
