package tenancy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/webhook"
)

// BenchmarkWebhookDelivery creates workspaces while DeliverWebhooks runs, and
// waits until a local receiver has every workspace.created from each endpoint (1
// and 16): ns/op is per event, deliveries/s counts POSTs answered. The lag, from an
// event's commit time to its arrival, is a backlog's here; the lag sub-benchmark
// measures it unloaded: one event at a time, each waited for.
func BenchmarkWebhookDelivery(b *testing.B) {
	for _, n := range []int{1, 16, 0} {
		name := fmt.Sprintf("endpoints=%d", n)
		paced := n == 0
		if paced {
			name, n = "lag", 1
		}
		b.Run(name, func(b *testing.B) {
			var mu sync.Mutex
			var lags []time.Duration
			var got atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var p tenancy.Payload
				body, _ := io.ReadAll(r.Body)
				if json.Unmarshal(body, &p) == nil {
					lag := time.Since(p.Data.Time)
					mu.Lock()
					lags = append(lags, lag)
					mu.Unlock()
				}
				got.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			m, err := tenancy.New(memory.New(), tenancy.Options{Webhooks: tenancy.WebhookOptions{
				Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true}}})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			sys := tenancy.System()
			if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "u", Email: "u@example.com"}); err != nil {
				b.Fatal(err)
			}
			for range n {
				if _, err := m.CreateWebhook(ctx, sys, tenancy.NewWebhook{URL: srv.URL, EventTypes: []string{"workspace.created"}}); err != nil {
					b.Fatal(err)
				}
			}
			dctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = m.DeliverWebhooks(dctx, tenancy.DeliverOptions{Poll: 10 * time.Millisecond})
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: fmt.Sprintf("W%d", i), OwnerID: "u"}); err != nil {
					b.Fatal(err)
				}
				for paced && got.Load() <= int64(i) {
					time.Sleep(20 * time.Microsecond)
				}
			}
			want := int64(n * b.N)
			for deadline := time.Now().Add(2 * time.Minute); got.Load() < want; {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d deliveries after 2 minutes", got.Load(), want)
				}
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
			mu.Lock()
			slices.Sort(lags)
			if len(lags) > 0 {
				b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag-p50-ms")
				b.ReportMetric(float64(lags[(len(lags)-1)*99/100].Microseconds())/1000, "lag-p99-ms")
			}
			mu.Unlock()
		})
	}
}
