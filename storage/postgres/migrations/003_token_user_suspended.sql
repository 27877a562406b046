-- A token carries its user's suspension, so authenticating it reads one row.
ALTER TABLE {p}tokens ADD COLUMN user_suspended boolean NOT NULL DEFAULT false;
UPDATE {p}tokens k SET user_suspended = true
    FROM {p}users u WHERE u.id = k.user_id AND u.suspended_at IS NOT NULL;
