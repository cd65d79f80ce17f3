package tenantauthtest

import (
	"net/http"
	"strconv"
	"time"
)

// Capacity makes the token endpoint behave as an overloaded identity
// provider: at most Max token requests are in service at once, and one that
// arrives while Max are in service is refused at once, as Keycloak does with
// http-max-queued-requests and as a proxy's concurrency or rate limit in
// front of it does.
//
// A request in service holds its slot until it is answered: through the
// latency ([Config].Latency, [Server.SetLatency]), which is thus the service
// time, and through an injected failure, hung ones included. A client that
// gives up during the latency or a hang frees its slot as soon as the server
// sees its connection end; so does [Server.Close].
//
// A refusal comes without latency, does not use up a failure queued with
// [Server.FailNext], and is counted in [Stats].TokenRequests,
// [Stats].TokenErrors and [Stats].CapacityRefusals. [Stats].MaxInService
// shows the peak of requests in service, at most Max unless Max was lowered
// while more were in service.
//
// The zero value sets no limit. Set it with [Config].Capacity or, at any
// time, [Server.SetCapacity].
type Capacity struct {
	// Max is the number of token requests served at once. Zero or
	// negative means no limit.
	Max int

	// Status is the HTTP status of a refusal. Zero means 503 Service
	// Unavailable, answered with the RFC 6749 error document
	// {"error":"temporarily_unavailable","error_description":"…"}; 429 Too
	// Many Requests is answered with an empty body, as a proxy's limit
	// does. Any other status from 400 to 599 is sent with an empty body
	// too, 503 excepted; a status outside that range means 503.
	Status int

	// RetryAfter is sent with refusals as a Retry-After header, in whole
	// seconds rounded up (1500 ms is "2", 1 ms is "1"). Zero or negative
	// sends no Retry-After.
	RetryAfter time.Duration
}

// SetCapacity sets the token endpoint's capacity from now on; see
// [Capacity]. Requests already in service keep their slots: lowering Max
// below their number refuses new requests until enough of them are done.
// Capacity{} removes the limit.
func (s *Server) SetCapacity(c Capacity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capacity = c
}

// admitLocked decides whether a token request arriving now is served, and
// counts it. s.mu must be held.
func (s *Server) admitLocked() bool {
	if c := s.capacity.Max; c > 0 && s.inService >= c {
		s.stats.CapacityRefusals++
		return false
	}
	s.inService++
	s.stats.MaxInService = max(s.stats.MaxInService, s.inService)
	return true
}

// release frees the slot of an admitted token request.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inService--
}

// refusal returns the answer to a request refused for capacity, as an
// injected failure.
func (c Capacity) refusal() Failure {
	f := Failure{Status: c.Status, Header: http.Header{}}
	if f.Status < 400 || f.Status > 599 {
		f.Status = http.StatusServiceUnavailable
	}
	if f.Status == http.StatusServiceUnavailable {
		f.Body = `{"error":"temporarily_unavailable","error_description":"The server is overloaded; try again later."}`
	}
	if c.RetryAfter > 0 {
		secs := int64(c.RetryAfter / time.Second)
		if c.RetryAfter%time.Second != 0 {
			secs++
		}
		f.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	// As every answer of a token endpoint (RFC 6749 §5.1).
	f.Header.Set("Cache-Control", "no-store")
	return f
}
