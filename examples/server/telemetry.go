package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// observability is the server's OpenTelemetry setup: metrics for Prometheus to
// scrape at /metrics, and traces exported over OTLP when the standard
// OTEL_EXPORTER_OTLP_* variables name a collector.
type observability struct {
	meters   metric.MeterProvider
	tracers  trace.TracerProvider
	prop     propagation.TextMapPropagator
	metrics  http.Handler // the /metrics page
	shutdown func(context.Context) error
	tracing  bool // traces go to an OTLP endpoint
}

// newObservability makes the providers. Traces are exported only when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (the
// exporter reads those and the other OTEL_EXPORTER_OTLP_* variables itself, e.g.
// OTEL_EXPORTER_OTLP_HEADERS for a collector's key); without them no span is
// made. OTEL_SERVICE_NAME names the service (default tenancy-server).
func newObservability(ctx context.Context, getenv func(string) string) (*observability, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName(getenv))))
	if err != nil {
		return nil, err
	}
	// A registry of the server's own, not Prometheus's global one: two servers in
	// one process (the tests) keep apart.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	o := &observability{meters: mp, tracers: tracenoop.NewTracerProvider(),
		prop:    propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), shutdown: mp.Shutdown}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, errors.Join(err, mp.Shutdown(ctx))
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		o.tracers, o.tracing = tp, true
		o.shutdown = func(ctx context.Context) error { return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)) }
	}
	// The providers are handed to the Manager and the HTTP layer, not installed
	// as otel's globals: a process running several servers (the tests) keeps
	// their metrics apart.
	return o, nil
}

func serviceName(getenv func(string) string) string {
	if s := getenv("OTEL_SERVICE_NAME"); s != "" {
		return s
	}
	return "tenancy-server"
}
