package tokenclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"unicode/utf8"
)

// formBody writes params as application/x-www-form-urlencoded, sorted by
// name as url.Values.Encode does (any byte can be sent: the encoding
// escapes it).
func formBody(params []param) []byte {
	form := make(url.Values, len(params))
	for _, p := range params {
		form[p.name] = p.values
	}
	return []byte(form.Encode())
}

// jsonBody writes params as a JSON object in their order: one value as a
// string, several as an array of strings. Text that is not valid UTF-8 is
// refused: encoding/json would silently replace the bad bytes and send a
// different secret than configured. "<", ">" and "&" are written as they
// are, so the body is what a server's documentation shows.
func jsonBody(name string, params []param) ([]byte, error) {
	for _, p := range params {
		if !utf8.ValidString(p.name) {
			return nil, fmt.Errorf("%s: a Credentials.EndpointParams name is not valid UTF-8", name)
		}
		for _, v := range p.values {
			if !utf8.ValidString(v) {
				return nil, fmt.Errorf("%s: %s is not valid UTF-8", name, p.field)
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	str := func(s string) {
		_ = enc.Encode(s)           // a string always encodes
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('{')
	for i, p := range params {
		if i > 0 {
			buf.WriteByte(',')
		}
		str(p.name)
		buf.WriteByte(':')
		if len(p.values) == 1 {
			str(p.values[0])
			continue
		}
		buf.WriteByte('[')
		for j, v := range p.values {
			if j > 0 {
				buf.WriteByte(',')
			}
			str(v)
		}
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
