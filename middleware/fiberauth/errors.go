package fiberauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/valyala/fasthttp"
)

var (
	// ErrMissingTenant means the request names no tenant. It matches
	// [tenantauth.ErrNoTenant] too.
	ErrMissingTenant error = &wrapError{msg: "fiberauth: missing tenant", err: tenantauth.ErrNoTenant}

	// ErrInvalidTenant means the request names a tenant, but not with a
	// valid ID: empty, longer than [MaxTenantIDLength], not UTF-8, or with
	// control, space or invisible formatting characters.
	ErrInvalidTenant = errors.New("fiberauth: invalid tenant ID")

	// ErrTokenUnavailable wraps what the Manager returned when it could not
	// hand out the tenant's token (token endpoint down, circuit open,
	// credentials refused, Manager closed). errors.Is still matches the
	// Manager's own error.
	ErrTokenUnavailable = errors.New("fiberauth: tenant token unavailable")

	// ErrInvalidUpstream means ProxyConfig.Upstream returned something that
	// is not an absolute http or https URL with a host and without query or
	// fragment.
	ErrInvalidUpstream = errors.New("fiberauth: upstream is not an absolute http(s) URL")

	// ErrInvalidPath means the request path cannot be forwarded: it does not
	// start with ProxyConfig.StripPrefix, or it has a dot segment ("." or
	// "..", also before a ";" as in "..;", in any percent-encoding up to
	// three levels deep, with "/" or "\" as separator), a control
	// character, or is still encoded after three decodings: anything that a
	// server behind the upstream could resolve outside its base path.
	ErrInvalidPath = errors.New("fiberauth: request path cannot be forwarded")

	// errNoManager is returned by helpers called without a Manager.
	errNoManager = errors.New("fiberauth: no tenantauth.Manager configured")
)

// wrapError is a sentinel with its own message that also matches err.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// tokenUnavailable marks err, an error of the Manager, as ErrTokenUnavailable
// unless it is a refusal that says more (an unknown tenant, a host outside
// the tenant's APIHosts), which stays as it is.
func tokenUnavailable(err error) error {
	if errors.Is(err, tenantauth.ErrUnknownTenant) || errors.Is(err, tenantauth.ErrHostNotAllowed) ||
		errors.Is(err, tenantauth.ErrNoTenant) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTokenUnavailable, err)
}

// Fixed error bodies: short, the same for everyone, never with a detail that
// could carry a secret or a tenant's internals.
const (
	bodyMissingTenant   = `{"error":"missing tenant"}`
	bodyInvalidTenant   = `{"error":"invalid tenant"}`
	bodyUnknownTenant   = `{"error":"unknown tenant"}`
	bodyUnavailable     = `{"error":"tenant token unavailable"}`
	bodyHostNotAllowed  = `{"error":"upstream not allowed for tenant"}`
	bodyInvalidUpstream = `{"error":"invalid upstream"}`
	bodyInvalidPath     = `{"error":"invalid path"}`
	bodyTimeout         = `{"error":"upstream timeout"}`
	bodyBadGateway      = `{"error":"bad gateway"}`
)

// respond writes the JSON error answer for err. Errors it does not know get
// fallback and fallbackBody; a *fiber.Error keeps its code and message.
func respond(c *fiber.Ctx, err error, fallback int, fallbackBody string) error {
	var fe *fiber.Error
	switch {
	case errors.Is(err, ErrInvalidTenant):
		return sendJSON(c, fiber.StatusBadRequest, bodyInvalidTenant)
	case errors.Is(err, tenantauth.ErrNoTenant):
		return sendJSON(c, fiber.StatusBadRequest, bodyMissingTenant)
	case errors.Is(err, tenantauth.ErrUnknownTenant):
		return sendJSON(c, fiber.StatusForbidden, bodyUnknownTenant)
	case errors.Is(err, tenantauth.ErrHostNotAllowed):
		return sendJSON(c, fiber.StatusBadGateway, bodyHostNotAllowed)
	case errors.Is(err, ErrInvalidPath):
		return sendJSON(c, fiber.StatusBadRequest, bodyInvalidPath)
	case errors.Is(err, ErrInvalidUpstream):
		return sendJSON(c, fiber.StatusBadGateway, bodyInvalidUpstream)
	case errors.Is(err, ErrTokenUnavailable):
		return sendJSON(c, fiber.StatusServiceUnavailable, bodyUnavailable)
	case isTimeout(err):
		return sendJSON(c, fiber.StatusGatewayTimeout, bodyTimeout)
	case errors.As(err, &fe):
		return c.Status(fe.Code).JSON(fiber.Map{"error": fe.Message})
	}
	return sendJSON(c, fallback, fallbackBody)
}

func sendJSON(c *fiber.Ctx, status int, body string) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(status).SendString(body)
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// logFailure records why a request is answered 5xx: the answer's body is
// deliberately vague. A client's own mistake (no tenant, a bad path) is not
// logged: a client could flood the log with it.
func logFailure(log *slog.Logger, c *fiber.Ctx, tenant string, err error) {
	if log == nil {
		log = slog.Default()
	}
	if errors.Is(err, ErrInvalidPath) || errors.Is(err, ErrMissingTenant) || errors.Is(err, ErrInvalidTenant) {
		return
	}
	log.LogAttrs(c.UserContext(), slog.LevelWarn, "fiberauth: request failed",
		slog.String("tenant", tenant), slog.String("method", c.Method()), slog.String("path", c.Path()),
		slog.String("error", err.Error()))
}
