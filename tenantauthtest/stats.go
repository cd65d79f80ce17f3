package tenantauthtest

import "maps"

// Stats counts what a server saw since it started or since
// [Server.ResetStats]. [Server.Stats] returns a snapshot: its maps are
// copies the caller may keep and modify.
type Stats struct {
	// TokenRequests counts every request to the token endpoint, whatever
	// its method, body or outcome.
	TokenRequests int
	// ByGrant counts token requests by the grant_type they sent
	// ("password", "client_credentials", "refresh_token", or anything
	// else a client sent). Requests without grant_type are not counted here.
	ByGrant map[string]int
	// ByClient counts token requests by the client_id they sent, in the
	// body or with HTTP Basic, known to the server or not.
	ByClient map[string]int
	// ByUser counts password grant requests by username.
	ByUser map[string]int
	// TokenErrors counts token requests answered with anything but a token:
	// OAuth errors, other refusals, failures injected with
	// [Server.FailNext] (hung and dropped ones included) and capacity
	// refusals.
	TokenErrors int
	// RefreshReuse counts uses of a refresh token that an earlier refresh
	// had already rotated out: with Keycloak or the standard server and
	// RotateRefreshTokens, or with Passport, which always rotates.
	RefreshReuse int
	// Discovery counts requests for a standard server's discovery documents
	// ({URL}/.well-known/openid-configuration and
	// {URL}/.well-known/oauth-authorization-server), whatever their method
	// or answer: those answered 404 because of
	// [Config].DisableOIDCDiscovery too, so a test sees a client's fallback.
	// They are not token requests. Keycloak and Passport serve no discovery
	// documents: it stays 0.
	Discovery int
	// APIRequests counts every request to the API.
	APIRequests int
	// APIUnauthorized counts API requests answered 401, those refused with
	// [Server.RejectAPI] included.
	APIUnauthorized int
	// MaxConcurrentTokenRequests is the peak number of token requests in
	// progress at once. A client that fetches one token for many waiting
	// callers keeps it at 1.
	MaxConcurrentTokenRequests int

	// CapacityRefusals counts token requests refused because [Capacity].Max
	// requests were in service. They are counted in TokenRequests and
	// TokenErrors too.
	CapacityRefusals int
	// MaxInService is the peak number of token requests in service at once:
	// admitted and not yet answered, refused ones not included. With a
	// [Capacity] it never exceeds Max, unless Max was lowered while more
	// requests were in service. Unlike MaxConcurrentTokenRequests, which
	// counts every request from its arrival, refused ones too, it shows
	// the load the identity provider itself bore.
	MaxInService int
	// InService is the number of token requests in service when the
	// snapshot was taken. It is a gauge, not a counter: ResetStats keeps
	// it. A test can wait for it to reach Max before it checks a refusal,
	// or for 0 after its clients gave up.
	InService int
}

func newStats() Stats {
	return Stats{ByGrant: map[string]int{}, ByClient: map[string]int{}, ByUser: map[string]int{}}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByGrant = maps.Clone(s.stats.ByGrant)
	st.ByClient = maps.Clone(s.stats.ByClient)
	st.ByUser = maps.Clone(s.stats.ByUser)
	st.InService = s.inService
	return st
}

// ResetStats sets every counter to zero. MaxConcurrentTokenRequests and
// MaxInService restart from the number of token requests in progress and in
// service. Tokens, pending failures, API rejections and the capacity are
// kept.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
	s.stats.MaxConcurrentTokenRequests = int(s.inflight.Load())
	s.stats.MaxInService = s.inService
}
