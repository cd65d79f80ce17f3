package tenantauthtest

import (
	"bytes"
	"net/http"
)

// A Failure replaces the answer to one token request (see [Server.FailNext]).
// The zero value answers 503 Service Unavailable with an empty body.
type Failure struct {
	// Status is the HTTP status sent, e.g. 429, 500, 503 or 302 (with a
	// Location header, to test that clients refuse redirects). Zero, or a
	// status outside 200–599, means 503.
	Status int
	// Body is sent as is. When it starts with '{' or '[' and Header sets no
	// Content-Type, it is sent as application/json.
	Body string
	// Header is added to the answer, e.g. Retry-After for a 429 or 503.
	Header http.Header
	// Hang sends nothing and keeps the request open until the client gives
	// up (its context ends) or the server closes; the connection is then
	// dropped. Status, Body and Header are ignored.
	Hang bool
	// CloseConn drops the connection without an answer, as a crashing
	// server or a proxy resetting the connection. Status, Body and Header
	// are ignored.
	CloseConn bool
}

type pendingFailure struct {
	n int
	f Failure
}

// FailNext makes the next n token requests, in arrival order, get f instead
// of their answer (after the latency, if any). Requests refused for
// [Capacity] do not count: they never reach the server behind the limit.
// Calls queue up: FailNext(1, a)
// then FailNext(2, b) fails one request with a, then two with b. n <= 0
// cancels every failure not yet used.
//
// A failed request is still counted in Stats, as a token error; the
// credentials it carried are not checked.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.failures = nil
		return
	}
	f.Header = f.Header.Clone()
	s.failures = append(s.failures, pendingFailure{n: n, f: f})
}

// takeFailureLocked pops one failure. s.mu must be held.
func (s *Server) takeFailureLocked() (Failure, bool) {
	if len(s.failures) == 0 {
		return Failure{}, false
	}
	p := &s.failures[0]
	f := p.f
	if p.n--; p.n == 0 {
		s.failures[0] = pendingFailure{}
		s.failures = s.failures[1:]
	}
	return f, true
}

// serveFailure answers a token request with an injected failure.
func (s *Server) serveFailure(w http.ResponseWriter, r *http.Request, f Failure) {
	s.mu.Lock()
	s.stats.TokenErrors++
	s.mu.Unlock()

	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		abort()
	case f.CloseConn:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		abort()
	}

	h := w.Header()
	for k, v := range f.Header {
		h[k] = append([]string(nil), v...)
	}
	if h.Get("Content-Type") == "" {
		if b := bytes.TrimSpace([]byte(f.Body)); len(b) > 0 && (b[0] == '{' || b[0] == '[') {
			h.Set("Content-Type", "application/json")
		}
	}
	status := f.Status
	if status < 200 || status > 599 {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(f.Body))
}
