-- Users can be suspended: NULL while active.
ALTER TABLE {p}users ADD COLUMN suspended_at timestamptz;
