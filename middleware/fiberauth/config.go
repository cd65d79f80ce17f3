package fiberauth

import (
	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"log/slog"
)

// Config defines the config for the middleware returned by [New].
type Config struct {
	// Next defines a function to skip this middleware when it returns true.
	//
	// Optional. Default: nil
	Next func(c *fiber.Ctx) bool

	// Tenant resolves the tenant of the request. It returns an error
	// matching ErrMissingTenant when the request names none and one matching
	// ErrInvalidTenant when the name is not a valid ID. The returned string
	// may alias the request's memory: the middleware validates and copies it
	// before storing it. Use one of the ready-made resolvers ([FromHeader],
	// [FromParam], [FromSubdomain], [FromForwardedSubdomain], [FromJWTClaim]) or
	// your own. The built-in resolvers read only what a client cannot forge
	// past a trusted proxy: FromSubdomain the Host header, never
	// X-Forwarded-Host; a tenant header sent twice is refused.
	//
	// Optional. Default: FromHeader("X-Tenant-ID")
	Tenant Resolver

	// Manager, when set, makes the middleware check that the tenant's token
	// can be had before the handler runs: an unknown tenant is answered 403
	// and a token that cannot be fetched 503 at the door, instead of in the
	// middle of a handler. In steady state this is a cache hit (no lock, no
	// allocation) and it warms the cache for the handler's own calls. Nil
	// means the middleware only resolves the tenant.
	//
	// Optional. Default: nil
	Manager *tenantauth.Manager

	// ErrorHandler answers requests whose tenant could not be resolved (or,
	// with Manager set, whose token could not be had). It is called with the
	// resolver's or the Manager's error and must not call c.Next.
	//
	// Optional. Default: a short JSON error: 400 {"error":"missing tenant"}
	// or {"error":"invalid tenant"}, 403 {"error":"unknown tenant"}, 503
	// {"error":"tenant token unavailable"}; a *fiber.Error keeps its code.
	ErrorHandler fiber.ErrorHandler

	// Logger receives a warning, with the tenant and the cause, for every
	// request answered 5xx because a token or the upstream failed: the
	// answer itself says only "tenant token unavailable", so the cause must
	// go somewhere an on-call engineer can read it. Errors never carry a
	// secret.
	//
	// Optional. Default: slog.Default(); set slog.New(slog.DiscardHandler)
	// to turn it off.
	Logger *slog.Logger
}

// HeaderTenantID is the request header the default resolver reads.
const HeaderTenantID = "X-Tenant-ID"

// ConfigDefault is the default config.
var ConfigDefault = Config{
	Next:         nil,
	Tenant:       FromHeader(HeaderTenantID),
	Manager:      nil,
	ErrorHandler: defaultErrorHandler,
}

// defaultErrorHandler is ConfigDefault.ErrorHandler. Errors it does not know
// come from a custom resolver: the request has no usable tenant.
func defaultErrorHandler(c *fiber.Ctx, err error) error {
	return respond(c, err, fiber.StatusBadRequest, bodyMissingTenant)
}

// configDefault fills the zero fields of the first config, if any, with
// ConfigDefault's.
func configDefault(config ...Config) Config {
	if len(config) < 1 {
		return ConfigDefault
	}
	cfg := config[0]
	if cfg.Tenant == nil {
		cfg.Tenant = ConfigDefault.Tenant
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = ConfigDefault.ErrorHandler
	}
	return cfg
}
