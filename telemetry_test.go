package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/memory"
)

// The Manager's spans and metrics, through an installed SDK: a span per call with
// the operation, the principal's kind and the outcome (a refusal is not an error
// status, a fault is), never an ID, a secret or an email; operation counts and
// durations; storage transactions; consumer lag; token-usage flushes.
func TestTelemetry(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	clock := newClock()
	m, err := tenancy.New(memory.New(), tenancy.Options{Clock: clock.Now, TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sys := tenancy.System()
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "ada", Email: "ada.lovelace@example.com"}); err != nil {
		t.Fatal(err)
	}
	w, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: "Acme", OwnerID: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.CreateToken(ctx, tenancy.User("ada"), tenancy.NewToken{Name: "ci", WorkspaceID: w.ID, Role: rbac.Editor, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Authenticate(ctx, tok.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Authorize(ctx, p, w.ID, rbac.ReadWorkspace); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetWorkspace(ctx, tenancy.User("mallory"), w.ID); err == nil {
		t.Fatal("a stranger read the workspace")
	}
	if _, err := m.Authenticate(ctx, "tncp_not-a-real-secret"); !errors.Is(err, tenancy.ErrUnauthenticated) {
		t.Fatalf("a wrong secret: %v", err)
	}
	clock.Advance(3 * time.Second)
	handled := 0
	if _, err := m.ConsumeStep(ctx, sys, "provisioner", tenancy.ConsumeOptions{}, func(context.Context, tenancy.Event) error { handled++; return nil }); err != nil {
		t.Fatal(err)
	}
	if handled == 0 {
		t.Fatal("the consumer handled nothing")
	}
	if err := m.FlushTokenUsage(ctx); err != nil {
		t.Fatal(err)
	}

	// Spans.
	secrets := []string{w.ID, tok.Secret, tok.Token.ID, "ada.lovelace@example.com", "ada", "mallory"}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
		if s.InstrumentationScope().Name != "github.com/tenancykit/tenancy" {
			t.Errorf("span %s: scope %q", s.Name(), s.InstrumentationScope().Name)
		}
		for _, a := range s.Attributes() {
			for _, sec := range secrets {
				if strings.Contains(a.Value.String(), sec) {
					t.Errorf("span %s: attribute %s=%q holds an ID, a secret or an email", s.Name(), a.Key, a.Value.String())
				}
			}
		}
	}
	attrsOf := func(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
		out := map[attribute.Key]string{}
		for _, a := range s.Attributes() {
			out[a.Key] = a.Value.String()
		}
		return out
	}
	for _, c := range []struct {
		name, principal, outcome string
	}{
		{"CreateWorkspace", "system", "ok"},
		{"CreateToken", "user", "ok"},
		{"Authorize", "workspace_token", "ok"},
		{"GetWorkspace", "user", "unauthenticated"},
		{"ConsumeStep", "system", "ok"},
		{"FlushTokenUsage", "system", "ok"},
	} {
		got := byName[c.name]
		if len(got) == 0 {
			t.Errorf("no %s span", c.name)
			continue
		}
		a := attrsOf(got[len(got)-1])
		if a["tenancy.operation"] != c.name || a["tenancy.principal.kind"] != c.principal || a["tenancy.outcome"] != c.outcome {
			t.Errorf("%s span: %v", c.name, a)
		}
		if got[len(got)-1].Status().Code.String() == "Error" {
			t.Errorf("%s span: an error status for %s", c.name, c.outcome)
		}
	}
	var outcomes []string
	for _, s := range byName["Authenticate"] {
		outcomes = append(outcomes, attrsOf(s)["tenancy.outcome"])
	}
	if strings.Join(outcomes, ",") != "ok,unauthenticated" {
		t.Errorf("Authenticate spans' outcomes: %v", outcomes)
	}

	// Metrics.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]map[string]int64{} // metric → attributes → value
	hist := map[string]uint64{}           // metric → observations
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if sums[md.Name] == nil {
						sums[md.Name] = map[string]int64{}
					}
					sums[md.Name][dp.Attributes.Encoded(attribute.DefaultEncoder())] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					hist[md.Name] += dp.Count
					for _, kv := range dp.Attributes.ToSlice() {
						for _, sec := range secrets {
							if strings.Contains(kv.Value.String(), sec) {
								t.Errorf("%s: attribute %s holds an ID, a secret or an email", md.Name, kv.Key)
							}
						}
					}
				}
			}
		}
	}
	ops := sums["tenancy.operations"]
	for _, want := range []string{
		"tenancy.operation=CreateWorkspace,tenancy.outcome=ok,tenancy.principal.kind=system",
		"tenancy.operation=Authenticate,tenancy.outcome=unauthenticated,tenancy.principal.kind=nobody",
		"tenancy.operation=GetWorkspace,tenancy.outcome=unauthenticated,tenancy.principal.kind=user",
	} {
		if ops[want] != 1 {
			t.Errorf("tenancy.operations{%s} = %d; all: %v", want, ops[want], ops)
		}
	}
	for _, name := range []string{"tenancy.operation.duration", "tenancy.storage.transaction.duration", "tenancy.consumer.lag"} {
		if hist[name] == 0 {
			t.Errorf("no %s observations", name)
		}
	}
	if f := sums["tenancy.token_usage.flushes"]["tenancy.outcome=ok"]; f != 1 {
		t.Errorf("token-usage flushes: %v", sums["tenancy.token_usage.flushes"])
	}
	if n := sums["tenancy.token_usage.tokens"][""]; n != 1 {
		t.Errorf("token-usage tokens flushed: %v", sums["tenancy.token_usage.tokens"])
	}
}
