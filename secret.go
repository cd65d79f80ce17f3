package tenantauth

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what every rendering of a Secret prints.
const redacted = "[REDACTED]"

// A Secret is a string that must never reach a log, an error message or an
// encoded document: client secrets, passwords, access and refresh tokens.
//
// Every way the standard library renders a value — fmt with any verb but %p
// (%v, %+v, %#v, %s, %q, %x, …), log/slog (text and JSON handlers),
// encoding/json and encoding (text) — prints "[REDACTED]". The raw value is
// reachable only on purpose, with [Secret.Reveal] or a string conversion.
//
// Two exceptions come from fmt itself and cannot be closed by any method:
// %p (a pointer verb on a non-pointer; go vet does not flag it because
// Secret implements fmt.Formatter) prints the raw value, and fmt cannot call methods on unexported struct fields, so a
// Secret stored in an unexported field of your own type prints raw. Keep
// secrets in exported fields, or give the enclosing type its own Format
// method as [Token] does.
type Secret string

// Reveal returns the raw value. Call it only where the value leaves the
// process on purpose: a token request body or an Authorization header.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty. It reveals nothing else.
func (s Secret) IsZero() bool { return s == "" }

// String implements [fmt.Stringer]; it returns "[REDACTED]".
func (s Secret) String() string { return redacted }

// GoString implements [fmt.GoStringer] for %#v; it returns "[REDACTED]".
func (s Secret) GoString() string { return redacted }

// Format implements [fmt.Formatter] so that every verb, including %x and %q
// which would otherwise bypass String, prints "[REDACTED]".
func (s Secret) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements [encoding.TextMarshaler].
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON implements [encoding/json.Marshaler].
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
