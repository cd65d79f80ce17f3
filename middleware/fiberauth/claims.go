package fiberauth

import (
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// FromJWTClaim resolves the tenant from the claim named claim of a JWT that
// an authentication middleware running before this one has already
// verified and stored with c.Locals(localsKey, v). This package reads the
// claims; it does not verify anything, so it must run after the middleware
// that does.
//
// v may be, without this package importing a JWT library:
//
//   - map[string]any, or any map type with string keys, such as
//     github.com/golang-jwt/jwt's MapClaims;
//   - a struct, or a pointer to one, with an exported field named Claims
//     holding one of these: golang-jwt's *jwt.Token (what
//     github.com/gofiber/contrib/jwt stores, under "user" by default);
//   - a claims struct, or a pointer to one: the field whose encoding/json
//     name is claim (its json tag name, else its Go name), embedded
//     structs included, as in golang-jwt's custom-claims pattern;
//   - a func(claim string) (any, bool) that looks claims up, for anything
//     else.
//
// The claim's value may be a string (or a string type such as
// json.Number), an integer, or a float64 holding an integer (how
// encoding/json decodes numbers); anything else gives ErrInvalidTenant, as
// does a value that is not a valid tenant ID. A missing value or claim gives
// ErrMissingTenant. The claim name is matched exactly: names may contain dots
// (namespaced claims such as "https://example.com/tenant"), so nested claims
// need a custom Resolver.
func FromJWTClaim(localsKey any, claim string) Resolver {
	return func(c *fiber.Ctx) (string, error) {
		v, ok := lookupClaim(c.Locals(localsKey), claim, 0)
		if !ok {
			return "", ErrMissingTenant
		}
		id, ok := claimString(v)
		if !ok {
			return "", ErrInvalidTenant
		}
		return checkTenantID(id)
	}
}

// maxClaimsDepth bounds how many Claims fields lookupClaim follows, so a
// self-referencing value cannot recurse forever.
const maxClaimsDepth = 3

// lookupClaim finds claim in v, one of the shapes FromJWTClaim accepts.
func lookupClaim(v any, claim string, depth int) (any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		x, ok := t[claim]
		return x, ok
	case func(string) (any, bool):
		if t == nil {
			return nil, false
		}
		return t(claim)
	}
	if depth >= maxClaimsDepth {
		return nil, false
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil, false
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, false
		}
		x := rv.MapIndex(reflect.ValueOf(claim).Convert(rv.Type().Key()))
		if !x.IsValid() || !x.CanInterface() {
			return nil, false
		}
		return x.Interface(), true
	case reflect.Struct:
		return structClaim(rv, claim, depth)
	}
	return nil, false
}

// structClaim looks claim up in a struct: through its Claims field when it
// has one (a token wrapper), else among its fields by encoding/json name.
func structClaim(rv reflect.Value, claim string, depth int) (any, bool) {
	t := rv.Type()
	if f, ok := t.FieldByName("Claims"); ok && f.IsExported() && len(f.Index) == 1 {
		fv := rv.Field(f.Index[0])
		if !fv.CanInterface() {
			return nil, false
		}
		return lookupClaim(fv.Interface(), claim, depth+1)
	}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous || jsonName(f) != claim {
			continue
		}
		fv, err := rv.FieldByIndexErr(f.Index)
		if err != nil || !fv.CanInterface() { // through a nil embedded pointer
			return nil, false
		}
		return fv.Interface(), true
	}
	return nil, false
}

// jsonName is the name encoding/json gives field f ("" when it skips it).
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return ""
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name
	}
	return f.Name
}

// claimString turns a claim value into a tenant ID candidate.
func claimString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		// encoding/json decodes every number as float64; only exact
		// integers name a tenant.
		if t != math.Trunc(t) || math.Abs(t) > 1<<53 {
			return "", false
		}
		return strconv.FormatInt(int64(t), 10), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), true
	}
	return "", false
}
