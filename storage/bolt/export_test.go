package bolt

// SetMigrateBatch sets how many gram keys one pass of the schema-3 migration
// holds, and returns a func that restores it: tests run several passes on a small store.
func SetMigrateBatch(n int) (restore func()) {
	old := migrateBatch
	migrateBatch = n
	return func() { migrateBatch = old }
}

// SetPendingBatch sets how many workspaces wait with their names filed before
// their grams are, and returns a func that restores it.
func SetPendingBatch(n int) (restore func()) {
	old := pendingBatch
	pendingBatch = n
	return func() { pendingBatch = old }
}
