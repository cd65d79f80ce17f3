package tokenclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tenantauth/tenantauth"
)

// MaxBodySize bounds a token endpoint's response body (1 MiB, as
// golang.org/x/oauth2 does). A larger body is an error wrapping
// [ErrBodyTooLarge], never truncated and parsed.
const MaxBodySize = 1 << 20

// A Dialect is what [Do] needs to know about the provider calling it: its
// name for error messages and how to parse the answer. A provider builds one
// per request, as the secrets differ.
type Dialect struct {
	// Name prefixes transport errors ("keycloak", "passport"), so that a
	// log line says which provider failed. Empty means "tenantauth".
	Name string
	// Options are passed to [Parse]. Set Secrets to [RequestSecrets] of the
	// request, so that a secret the endpoint echoes is redacted.
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
	tok, _, err := do(ctx, client, req, d)
	return tok, err
}

// do is Do that also returns the answer's header (nil when there was no
// answer), for its DPoP-Nonce.
func do(ctx context.Context, client *http.Client, req *http.Request, d Dialect) (*tenantauth.Token, http.Header, error) {
	endpoint := tenantauth.RedactURL(req.URL.String())
	if err := ctx.Err(); err != nil {
		return nil, nil, &requestError{name: d.Name, endpoint: endpoint, err: err, notSent: true}
	}
	if client == nil {
		client = defaultClient()
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		// After a refused redirect resp is non-nil with its body
		// already closed; there is nothing to release.
		return nil, nil, &requestError{name: d.Name, endpoint: endpoint, err: err}
	}
	body, err := readBody(resp)
	resp.Body.Close()
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			return nil, resp.Header, fmt.Errorf("%w: %s answered status %d with more than %d bytes",
				ErrBodyTooLarge, endpoint, resp.StatusCode, MaxBodySize)
		}
		return nil, nil, &requestError{name: d.Name, endpoint: endpoint, err: err, reading: true}
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	tok, err := Parse(endpoint, resp.StatusCode, resp.Header, body, now(), d.Options)
	return tok, resp.Header, err
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
// is built from the redacted endpoint and a description of the cause in
// fixed words ([causeText]): *url.Error's own message would repeat a URL (a
// redirect target, say) unredacted, and some causes quote the server.
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
	what := "token request to "
	switch {
	case e.notSent:
		what = "token request not sent to "
	case e.reading:
		what = "reading token response from "
	}
	return name + ": " + what + e.endpoint + ": " + causeText(e.err)
}

// causeText describes a transport failure without quoting the server. The
// cause's own text is used only for errors net, crypto/tls, crypto/x509 and
// net/http compose from fixed words and from values this process chose
// (addresses, host names, a TLS alert's name); anything else (a malformed
// status line or header, which net/http quotes; an HTTP/2 GOAWAY's debug
// data; the names in a certificate) is described by its kind. The cause
// itself stays reachable with errors.Unwrap and errors.As.
func causeText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	var (
		redirect *redirectError
		op       *net.OpError
		dns      *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		roots    x509.SystemRootsError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		sys      *os.SyscallError
		errno    syscall.Errno
		ne       net.Error
	)
	switch {
	case errors.As(err, &redirect):
		return redirect.Error()
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		// http.Client.Timeout's error matches it too.
		return "context deadline exceeded (the context's deadline or http.Client.Timeout)"
	case errors.As(err, &unknown):
		return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
	case errors.As(err, &hostname):
		return "tls: failed to verify certificate: x509: certificate is not valid for host " + strconv.Quote(hostname.Host)
	case errors.As(err, &invalid):
		// Detail may quote the certificate.
		return "tls: failed to verify certificate: " + strings.TrimSuffix(invalid.Error(), ": "+invalid.Detail)
	case errors.As(err, &roots):
		return "tls: failed to verify certificate: x509: no root certificates"
	case errors.As(err, &verify):
		return "tls: failed to verify certificate"
	case errors.As(err, &record):
		return "tls: first record does not look like a TLS handshake (plain http on an https port?)"
	case errors.As(err, &op):
		s := op.Op
		if op.Net != "" {
			s += " " + op.Net
		}
		if op.Addr != nil {
			s += " " + op.Addr.String()
		}
		if op.Err == nil {
			return s
		}
		if fmt.Sprintf("%T", op.Err) == "tls.alert" { // a name from crypto/tls's fixed table
			return s + ": " + op.Err.Error()
		}
		return s + ": " + causeText(op.Err)
	case errors.As(err, &dns):
		return dns.Error() // our host name, our resolver, the resolver's fixed words
	case errors.Is(err, http.ErrSchemeMismatch):
		return http.ErrSchemeMismatch.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return io.ErrUnexpectedEOF.Error()
	case errors.Is(err, io.EOF):
		return "EOF (the server closed the connection)"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "i/o timeout"
	case errors.Is(err, net.ErrClosed):
		return net.ErrClosed.Error()
	case errors.As(err, &sys):
		return sys.Syscall + ": " + causeText(sys.Err)
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout (dial, TLS handshake or response headers took too long)"
	}
	// The innermost cause decides, by the fixed words its text starts with
	// (net/http writes them before any quote of the server), never by
	// what follows.
	inner := err
	for u := errors.Unwrap(inner); u != nil; u = errors.Unwrap(inner) {
		inner = u
	}
	msg := inner.Error()
	for _, p := range []string{"malformed HTTP ", "malformed MIME header", "bad Content-Length", "invalid Trailer",
		"unsupported transfer encoding", "too many transfer encodings", "invalid Transfer-Encoding"} {
		if strings.HasPrefix(msg, p) {
			return "the answer is not valid HTTP (a malformed status line, header or length; " +
				"its text is not printed, as it quotes the server: errors.Unwrap returns it)"
		}
	}
	if strings.HasPrefix(msg, "http2: ") {
		return "an HTTP/2 error (its text is not printed, as it may quote the server: errors.Unwrap returns it)"
	}
	return fmt.Sprintf("the connection failed or the answer was not valid HTTP (%T; its text is not printed, "+
		"as it may quote the server: errors.Unwrap returns it)", inner)
}

// Unwrap returns the cause, so errors.Is(err, context.Canceled) and
// errors.As(err, new(*url.Error)) work.
func (e *requestError) Unwrap() error { return e.err }
