package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ObserveOptions configures Observe. The zero value uses otel's global providers
// and propagator, no-ops until the host installs an SDK.
type ObserveOptions struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Propagator reads the caller's trace context (traceparent) from the request
	// headers; nil means otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
}

// Observe returns middleware that traces and measures every request the
// OpenTelemetry way: a server span named by the method and the route pattern
// ("GET /workspaces/{id}"), continuing the caller's trace, and the
// http.server.request.duration histogram (seconds; its count is the request
// count) by http.request.method, http.route and http.response.status_code. Only
// the pattern is recorded, never the path, its query or a header: a path holds
// other tenants' IDs and invitation pages hold secrets. Requests no route matched
// count under the route "(no route)". Wrap the whole server with it, outside
// LogRequests or inside: the two share what the API's handlers note.
func Observe(opts ObserveOptions) (func(http.Handler) http.Handler, error) {
	tp, mp, prop := opts.TracerProvider, opts.MeterProvider, opts.Propagator
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	tracer := tp.Tracer("github.com/tenancykit/tenancy/httpapi")
	duration, err := mp.Meter("github.com/tenancykit/tenancy/httpapi").Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests, by method, route pattern and status"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			r, info := withRequestInfo(r)
			ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			r = r.WithContext(ctx) // the mux notes the pattern in this request
			next.ServeHTTP(rec, r)
			route := info.route
			if route == "" {
				route = r.Pattern
			}
			if route == "" {
				route = "(no route)"
			}
			attrs := []attribute.KeyValue{
				attribute.String("http.request.method", r.Method),
				attribute.String("http.route", route),
				attribute.Int("http.response.status_code", rec.status),
			}
			if span.IsRecording() {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attrs...)
				if rec.status >= 500 {
					span.SetStatus(codes.Error, strconv.Itoa(rec.status))
				}
			}
			span.End()
			duration.Record(context.Background(), time.Since(start).Seconds(), metric.WithAttributes(attrs...))
		})
	}, nil
}

// withRequestInfo returns r with the request's shared notes (the route pattern
// the API matched, the principal's kind), made now unless an outer middleware
// made them.
func withRequestInfo(r *http.Request) (*http.Request, *requestInfo) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return r, info
	}
	info := &requestInfo{principal: "none"}
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)), info
}
