package breaker

import (
	"context"
	"errors"
	"strconv"
)

// An Outcome is how a call's result counts towards its endpoint's breaker.
type Outcome int8

const (
	// Success counts as a success: it resets the consecutive-failure count
	// and, while half-open, counts towards closing the breaker.
	Success Outcome = iota
	// Failure counts against the endpoint: enough of them in a row open the
	// breaker, and one while half-open opens it again.
	Failure
	// Excluded counts neither way. It is for errors that say nothing about the
	// endpoint's health: a caller that gave up, or one tenant's credentials
	// refused. While half-open, an excluded probe frees its slot for the next
	// probe and leaves the breaker half-open.
	Excluded
)

// String returns "success", "failure" or "excluded".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Excluded:
		return "excluded"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// tenantFaulter is implemented by errors that can tell whether the endpoint
// refused what one tenant sent (rather than failing). The root package's
// *tenantauth.TokenError implements it; breaker cannot import the root
// package, which imports breaker.
type tenantFaulter interface {
	TenantFault() bool
}

// Classify is the default classifier ([Config].Classify):
//
//   - nil is a Success;
//   - an error matching context.Canceled is Excluded: the caller gave up,
//     the endpoint did nothing wrong;
//   - an error whose chain holds an error with a TenantFault() bool method is
//     Excluded when that method returns true (a 4xx refusal of one tenant's
//     credentials or grant, such as invalid_grant or invalid_client, must not
//     cut off every other tenant of the endpoint); the first such error in the
//     chain, as found by errors.As, decides;
//   - everything else is a Failure: network errors, timeouts including
//     context.DeadlineExceeded, 5xx, 429 and 408 answers (whose TenantFault
//     returns false).
//
// Classify deliberately ignores Temporary() methods: *url.Error has one that
// reports false for, among others, a refused connection, which is exactly
// what a breaker must count.
func Classify(err error) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, context.Canceled) {
		return Excluded
	}
	var tf tenantFaulter
	if errors.As(err, &tf) && tf.TenantFault() {
		return Excluded
	}
	return Failure
}
