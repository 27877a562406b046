package tenancy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tenancykit/tenancy/storage"
)

// instrumentationName names the tracer and the meter, as the otel conventions ask:
// the instrumented package's import path.
const instrumentationName = "github.com/tenancykit/tenancy"

// The attributes of spans and measurements. They name what happened and to what
// kind of principal; never an ID, a secret or an email, so that neither a trace
// backend nor a metric's cardinality holds personal data.
const (
	attrOperation = attribute.Key("tenancy.operation")      // a Manager method: "CreateWorkspace"
	attrPrincipal = attribute.Key("tenancy.principal.kind") // system, user, personal_token, workspace_token, nobody
	attrOutcome   = attribute.Key("tenancy.outcome")        // ok, or the error's kind: not_found, permission_denied, …
	attrTxKind    = attribute.Key("tenancy.transaction")    // read or write
	attrConsumer  = attribute.Key("tenancy.consumer")       // a durable consumer's name (the host's)
)

// telemetry holds a Manager's tracer and instruments. Everything in it is safe
// for concurrent use; with the global providers and no SDK installed every call
// is a no-op.
type telemetry struct {
	tracer trace.Tracer
	// globalDefault is the global provider as it was before any SDK was installed,
	// when the Manager uses the global one; nil otherwise. While the global
	// provider is still that one, no span can record, and start skips the tracer:
	// a no-op span still costs a context and an interface allocation per call,
	// which is a tenth of a memory-backend Authorize.
	globalDefault trace.TracerProvider
	noop          bool // the provider is trace/noop's

	operations  metric.Int64Counter     // tenancy.operations
	opDuration  metric.Float64Histogram // tenancy.operation.duration
	txDuration  metric.Float64Histogram // tenancy.storage.transaction.duration
	deliveries  metric.Int64Counter     // tenancy.webhook.deliveries
	deliveryLag metric.Float64Histogram // tenancy.webhook.delivery.lag
	consumerLag metric.Float64Histogram // tenancy.consumer.lag
	flushes     metric.Int64Counter     // tenancy.token_usage.flushes
	flushed     metric.Int64Counter     // tenancy.token_usage.tokens

	// sets caches one attribute set per (operation, principal kind, outcome):
	// building a set allocates, and Authorize is called on every request.
	sets sync.Map // setKey → metric.MeasurementOption
}

type setKey struct {
	op        string
	principal principalKind
	scoped    bool // a workspace token
	outcome   string
}

// newTelemetry makes the tracer and the instruments from the providers (nil: the
// global ones, which are no-ops until the host installs an SDK). An instrument
// that cannot be made is an error: New refuses rather than run half-instrumented.
func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, store storage.Storage) (*telemetry, error) {
	t := &telemetry{}
	if tp == nil {
		tp = otel.GetTracerProvider()
		t.globalDefault = tp
	}
	if _, ok := tp.(tracenoop.TracerProvider); ok {
		t.noop = true
	}
	t.tracer = tp.Tracer(instrumentationName)
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	// Latency buckets in seconds, from a memory-backend check (microseconds) to a
	// slow PostgreSQL write (seconds).
	buckets := metric.WithExplicitBucketBoundaries(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
	lagBuckets := metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	t.operations, err = meter.Int64Counter("tenancy.operations", metric.WithUnit("{operation}"),
		metric.WithDescription("Manager operations, by operation, principal kind and outcome"))
	add(err)
	t.opDuration, err = meter.Float64Histogram("tenancy.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("How long Manager operations take, by operation, principal kind and outcome"), buckets)
	add(err)
	t.txDuration, err = meter.Float64Histogram("tenancy.storage.transaction.duration", metric.WithUnit("s"),
		metric.WithDescription("How long storage transactions take, retries included, by read or write and outcome"), buckets)
	add(err)
	t.deliveries, err = meter.Int64Counter("tenancy.webhook.deliveries", metric.WithUnit("{attempt}"),
		metric.WithDescription("Webhook delivery attempts, by outcome (delivered, failed, gone)"))
	add(err)
	t.deliveryLag, err = meter.Float64Histogram("tenancy.webhook.delivery.lag", metric.WithUnit("s"),
		metric.WithDescription("Time from an event to a delivery attempt of it"), lagBuckets)
	add(err)
	t.consumerLag, err = meter.Float64Histogram("tenancy.consumer.lag", metric.WithUnit("s"),
		metric.WithDescription("Time from an event to its handling by a durable consumer, by consumer"), lagBuckets)
	add(err)
	t.flushes, err = meter.Int64Counter("tenancy.token_usage.flushes", metric.WithUnit("{flush}"),
		metric.WithDescription("Token-usage flushes (last-used times written), by outcome"))
	add(err)
	t.flushed, err = meter.Int64Counter("tenancy.token_usage.tokens", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens whose last-used time a flush wrote"))
	add(err)
	if tc, ok := store.(storage.TxCounter); ok {
		commits, err := meter.Int64ObservableCounter("tenancy.storage.commits", metric.WithUnit("{transaction}"),
			metric.WithDescription("Write transactions the store committed"))
		add(err)
		retries, err := meter.Int64ObservableCounter("tenancy.storage.retries", metric.WithUnit("{attempt}"),
			metric.WithDescription("Transaction attempts run again after a serialization failure or a deadlock"))
		add(err)
		ambiguous, err := meter.Int64ObservableCounter("tenancy.storage.ambiguous_commits", metric.WithUnit("{transaction}"),
			metric.WithDescription("Commits whose outcome is unknown (the connection was lost during COMMIT); never retried"))
		add(err)
		if commits != nil && retries != nil && ambiguous != nil {
			_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
				c := tc.TxCounts()
				o.ObserveInt64(commits, c.Commits)
				o.ObserveInt64(retries, c.Retries)
				o.ObserveInt64(ambiguous, c.Ambiguous)
				return nil
			}, commits, retries, ambiguous)
			add(err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return t, nil
}

// principalKindName names p's kind for an attribute.
func principalKindName(k principalKind, scoped bool) string {
	switch k {
	case systemKind:
		return "system"
	case userKind:
		return "user"
	case tokenKind:
		if scoped {
			return "workspace_token"
		}
		return "personal_token"
	}
	return "nobody"
}

// outcomeName names an operation's outcome: "ok", the error's kind in snake case,
// "canceled", or "internal".
func outcomeName(err error) string {
	if err == nil {
		return "ok"
	}
	switch KindOf(err) {
	case ErrNotFound:
		return "not_found"
	case ErrAlreadyExists:
		return "already_exists"
	case ErrInvalidArgument:
		return "invalid_argument"
	case ErrUnauthenticated:
		return "unauthenticated"
	case ErrPermissionDenied:
		return "permission_denied"
	case ErrFailedPrecondition:
		return "failed_precondition"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return "internal"
}

// opSpan is one Manager call being observed.
type opSpan struct {
	t       *telemetry
	span    trace.Span // nil when no span is recorded
	op      string
	start   time.Time
	kind    principalKind // the principal's kind, not the Principal: this is copied per call
	scoped  bool          // a workspace token
	measure bool          // a meter records the call: the clock was read at its start
}

// start begins observing the Manager call op made by p: a span (a child of any
// span in ctx) and, at end, the call's count and duration. With no SDK installed
// it costs two atomic loads and returns nil, whose end does nothing; observed, the
// call's opSpan is allocated (beside a span's own, that allocation is small).
func (t *telemetry) start(ctx context.Context, op string, p Principal) (context.Context, *opSpan) {
	tracing := t.tracing()
	if !tracing && !t.opDuration.Enabled(ctx) {
		return ctx, nil
	}
	return t.startObserved(ctx, op, p, tracing)
}

// tracing reports whether a span could record: a provider was given, or an SDK
// replaced the global default since New.
func (t *telemetry) tracing() bool {
	return !t.noop && (t.globalDefault == nil || otel.GetTracerProvider() != t.globalDefault)
}

func (t *telemetry) startObserved(ctx context.Context, op string, p Principal, tracing bool) (context.Context, *opSpan) {
	s := &opSpan{t: t, op: op, kind: p.kind, scoped: p.scope != "", measure: t.opDuration.Enabled(ctx)}
	if s.measure {
		s.start = time.Now()
	}
	if !tracing {
		return ctx, s
	}
	// The span is named by the method alone (the tracer's scope names the
	// library), which keeps the name a constant: no allocation per call.
	ctx, s.span = t.tracer.Start(ctx, op)
	if s.span.IsRecording() {
		s.span.SetAttributes(attrOperation.String(op), attrPrincipal.String(principalKindName(p.kind, p.scope != "")))
	}
	return ctx, s
}

// end finishes the call with its error (nil for success). A nil opSpan (nothing
// observed) ends at once.
func (s *opSpan) end(err error) {
	if s != nil {
		s.finish(err)
	}
}

func (s *opSpan) finish(err error) {
	outcome := outcomeName(err)
	if s.span != nil {
		if s.span.IsRecording() {
			s.span.SetAttributes(attrOutcome.String(outcome))
			// A refusal is the operation working as meant; only faults mark the
			// span as an error, so error-rate alerts on traces mean something.
			if outcome == "internal" {
				s.span.SetStatus(codes.Error, "internal error")
			}
		}
		s.span.End()
	}
	if s.measure {
		attrs := s.t.attrs(setKey{op: s.op, principal: s.kind, scoped: s.scoped, outcome: outcome})
		s.t.operations.Add(context.Background(), 1, attrs)
		s.t.opDuration.Record(context.Background(), time.Since(s.start).Seconds(), attrs)
	}
}

// attrs is the cached attribute set of a call.
func (t *telemetry) attrs(k setKey) metric.MeasurementOption {
	if v, ok := t.sets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	v := metric.WithAttributeSet(attribute.NewSet(attrOperation.String(k.op),
		attrPrincipal.String(principalKindName(k.principal, k.scoped)), attrOutcome.String(k.outcome)))
	t.sets.Store(k, v)
	return v
}

// transaction records a storage transaction's duration.
func (t *telemetry) transaction(kind string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = outcomeName(err)
		if errors.Is(err, storage.ErrAmbiguousCommit) {
			outcome = "ambiguous"
		}
	}
	k := setKey{op: kind, outcome: outcome, principal: 255}
	v, ok := t.sets.Load(k)
	if !ok {
		v = metric.WithAttributeSet(attribute.NewSet(attrTxKind.String(kind), attrOutcome.String(outcome)))
		t.sets.Store(k, v)
	}
	t.txDuration.Record(context.Background(), time.Since(start).Seconds(), v.(metric.MeasurementOption))
}

// txEnabled reports whether transaction durations are recorded, so that a
// Manager without a meter does not read the clock for them.
func (t *telemetry) txEnabled() bool { return t.txDuration.Enabled(context.Background()) }

// flush records a token-usage flush that wrote n last-used times, or failed.
func (t *telemetry) flush(n int, err error) {
	ctx := context.Background()
	outcome := "ok"
	if err != nil {
		outcome = outcomeName(storageErr("flush token usage", err))
	}
	t.flushes.Add(ctx, 1, metric.WithAttributes(attrOutcome.String(outcome)))
	if err == nil {
		t.flushed.Add(ctx, int64(n))
	}
}

// delivered records a webhook delivery attempt of an event that happened at
// eventTime, with its outcome (delivered, failed or gone).
func (t *telemetry) delivered(outcome string, eventTime, now time.Time) {
	ctx := context.Background()
	attrs := metric.WithAttributes(attrOutcome.String(outcome))
	t.deliveries.Add(ctx, 1, attrs)
	t.deliveryLag.Record(ctx, max(now.Sub(eventTime), 0).Seconds(), attrs)
}

// consumed records that consumer name is handling an event that happened at
// eventTime.
func (t *telemetry) consumed(name string, eventTime, now time.Time) {
	if !t.consumerLag.Enabled(context.Background()) {
		return
	}
	t.consumerLag.Record(context.Background(), max(now.Sub(eventTime), 0).Seconds(), metric.WithAttributes(attrConsumer.String(name)))
}
