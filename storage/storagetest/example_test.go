package storagetest_test

import (
	"testing"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/storage/storagetest"
)

// A backend's conformance test is one line. Durable backends add
// storagetest.WithReopen, to check that everything survives a close and reopen.
func ExampleRun() {
	_ = func(t *testing.T) {
		storagetest.Run(t, func(*testing.T) storage.Storage { return memory.New() })
	}
}
