package tenantauthotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the Observer's meter and
// tracer: the import path of this package.
const ScopeName = "github.com/tenantauth/tenantauth/otel"

// Config configures an [Observer]. Its zero value is usable: the global
// providers, no tenant IDs in telemetry.
type Config struct {
	// MeterProvider creates the Observer's instruments. Nil means the
	// global one, otel.GetMeterProvider() (a no-op until the application
	// sets one; instruments created before then follow it once it is set).
	MeterProvider metric.MeterProvider

	// TracerProvider creates the token fetch spans. Nil means the global
	// one, otel.GetTracerProvider().
	TracerProvider trace.TracerProvider

	// TenantAttributes adds the tenant ID, as tenantauth.tenant.id, to the
	// fetch spans and to the per-event metrics (fetches, token requests,
	// invalidations, recoveries). False (the default) keeps tenant IDs out
	// of every metric and span: a platform with thousands of tenants would
	// otherwise multiply every time series by thousands, and a tenant ID
	// may itself be a customer's name. Turn it on only for a handful of
	// tenants, or with a backend that drops the attribute from metrics.
	TenantAttributes bool
}

// configDefault fills cfg's zero fields.
func configDefault(cfg Config) Config {
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	return cfg
}
