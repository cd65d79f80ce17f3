package fiberauth

import (
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// rejected reports whether resp says the API refused the token.
func rejected(resp *fasthttp.Response) bool {
	return resp.StatusCode() == fiber.StatusUnauthorized
}

// canRetry reports whether req may be sent a second time: its body is in
// memory (a body stream was consumed by the first attempt), and its method
// is idempotent when idempotentOnly is set. The rule is the one of
// middleware/httpauth, so both clients behave alike.
func canRetry(req *fasthttp.Request, idempotentOnly bool) bool {
	if req.IsBodyStream() {
		return false
	}
	return !idempotentOnly || idempotent(req)
}

// idempotent reports whether req's method is idempotent (RFC 9110 §9.2.2),
// or the request says so with an Idempotency-Key header.
func idempotent(req *fasthttp.Request) bool {
	switch string(req.Header.Method()) { // no allocation: the compiler reads the bytes in place
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace,
		fiber.MethodPut, fiber.MethodDelete:
		return true
	}
	return len(req.Header.Peek("Idempotency-Key")) > 0 || len(req.Header.Peek("X-Idempotency-Key")) > 0
}

// resetResponse empties resp for a second attempt, keeping the two settings
// the caller may have chosen for it.
func resetResponse(resp *fasthttp.Response) {
	skip, stream := resp.SkipBody, resp.StreamBody
	resp.Reset()
	resp.SkipBody, resp.StreamBody = skip, stream
}
