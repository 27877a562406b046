package tenancy

import (
	"context"
	"testing"

	"github.com/tenancykit/tenancy/storage/memory"
)

// BenchmarkTelemetryDisabled is what the instrumentation adds to one Manager call
// when no SDK is installed (the default): the span's start and end, and the
// transaction's check. Compare it with BenchmarkAuthorize and
// BenchmarkAuthenticate of the same run (BENCHMARKS.md has the figures).
func BenchmarkTelemetryDisabled(b *testing.B) {
	m, err := New(memory.New(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	p := User("ada")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, s := m.tel.start(ctx, "Authorize", p)
		if c != ctx || m.tel.txEnabled() {
			b.Fatal("telemetry is on without an SDK")
		}
		s.end(nil)
	}
}
