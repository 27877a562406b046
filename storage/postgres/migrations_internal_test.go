package postgres

import (
	"strconv"
	"strings"
	"testing"
)

// SchemaVersion is the newest migration: forgetting to raise it with a new file
// would make every build refuse the databases it migrated itself.
func TestSchemaVersionIsTheNewestMigration(t *testing.T) {
	files, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	for i, f := range files {
		n, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
		if err != nil || n != i+1 {
			t.Errorf("migration %s: want number %d, without gaps", f.Name(), i+1)
		}
		newest = max(newest, n)
	}
	if newest != SchemaVersion {
		t.Errorf("SchemaVersion is %d, the newest migration %d", SchemaVersion, newest)
	}
}
