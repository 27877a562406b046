package memory_test

import (
	"testing"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Storage { return memory.New() },
		storagetest.WithCapabilities(storagetest.Search|storagetest.FullScan|storagetest.SuspendedScan|storagetest.Checks))
}
