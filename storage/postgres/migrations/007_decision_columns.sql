-- An Authorize by a member, and an Authenticate, read one row: the membership
-- carries what a decision needs of its workspace (status) and of its user
-- (platform, suspension), a workspace token its workspace's status; the backend
-- writes them in the transaction that changes their sources, and Check compares
-- them. A row whose copy is NULL is not trusted: the prefetch then reads the
-- records themselves.
ALTER TABLE {p}members ADD COLUMN ws_status text;
ALTER TABLE {p}members ADD COLUMN user_platform boolean;
ALTER TABLE {p}members ADD COLUMN user_suspended_at timestamptz;
UPDATE {p}members m SET ws_status = w.status FROM {p}workspaces w WHERE w.id = m.workspace_id;
UPDATE {p}members m SET user_platform = u.platform, user_suspended_at = u.suspended_at FROM {p}users u WHERE u.id = m.user_id;
ALTER TABLE {p}tokens ADD COLUMN ws_status text;
UPDATE {p}tokens k SET ws_status = w.status FROM {p}workspaces w WHERE w.id = k.workspace_id AND k.workspace_id <> '';
