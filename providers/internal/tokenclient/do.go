package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tenantauth/tenantauth"
)

// MaxBodySize bounds a token endpoint's response body (1 MiB, as
// golang.org/x/oauth2 does). A larger body is an error wrapping
// [ErrBodyTooLarge], never truncated and parsed.
const MaxBodySize = 1 << 20

// A Dialect is what [Do] needs to know about the provider calling it.
type Dialect struct {
	// Name prefixes transport errors ("keycloak", "passport"). Empty means
	// "tenantauth".
	Name string
	// Options are passed to [Parse]. Providers fill Secrets per request.
	Options ParseOptions
	// Now tells the time for IssuedAt, Expiry and Retry-After. Nil means
	// time.Now.
	Now func() time.Time
}

// defaultClient serves Do calls without a client of their own.
var defaultClient = sync.OnceValue(NewHTTPClient)

// Do sends a prepared token request with client (nil means a shared
// [NewHTTPClient]) under ctx, reads the response body up to [MaxBodySize],
// closes it and hands the answer to [Parse].
//
// client should come from [NewHTTPClient] or [Harden], so that redirects are
// refused. A transport failure yields an error that names the redacted
// endpoint, wraps the *url.Error (and so ctx.Err(), tenantauth.ErrRedirect
// or a net.Error) and never includes the request body.
func Do(ctx context.Context, client *http.Client, req *http.Request, d Dialect) (*tenantauth.Token, error) {
	endpoint := tenantauth.RedactURL(req.URL.String())
	if err := ctx.Err(); err != nil {
		return nil, &requestError{name: d.Name, endpoint: endpoint, err: err, notSent: true}
	}
	if client == nil {
		client = defaultClient()
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		// After a refused redirect resp is non-nil with its body
		// already closed; there is nothing to release.
		return nil, &requestError{name: d.Name, endpoint: endpoint, err: err}
	}
	body, err := readBody(resp)
	resp.Body.Close()
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			return nil, fmt.Errorf("%w: %s answered status %d with more than %d bytes",
				ErrBodyTooLarge, endpoint, resp.StatusCode, MaxBodySize)
		}
		return nil, &requestError{name: d.Name, endpoint: endpoint, err: err, reading: true}
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	return Parse(endpoint, resp.StatusCode, resp.Header, body, now(), d.Options)
}

func readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > MaxBodySize {
		return nil, ErrBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBodySize {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

// requestError is a token request that got no complete answer. Its message
// is built from the redacted endpoint and the cause only: *url.Error's own
// message would repeat a URL (a redirect target, say) unredacted.
type requestError struct {
	name, endpoint string
	err            error
	notSent        bool // ctx was done before sending
	reading        bool // failed while reading the body
}

func (e *requestError) Error() string {
	name := e.name
	if name == "" {
		name = "tenantauth"
	}
	cause := e.err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	what := "token request to "
	switch {
	case e.notSent:
		what = "token request not sent to "
	case e.reading:
		what = "reading token response from "
	}
	return name + ": " + what + e.endpoint + ": " + cause.Error()
}

// Unwrap returns the cause, so errors.Is(err, context.Canceled) and
// errors.As(err, new(*url.Error)) work.
func (e *requestError) Unwrap() error { return e.err }
