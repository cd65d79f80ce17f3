package tokenclient

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 500e6, time.UTC) // half a second in
	date := func(d time.Duration) string { return now.Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"007", 7 * time.Second},
		{"86400", 24 * time.Hour},
		{"86401", MaxRetryAfter},
		{"99999999999999999999999999", MaxRetryAfter},
		{"-5", 0},
		{"+5", 0},
		{"1.5", 0},
		{"5s", 0},
		{"soon", 0},
		{date(90 * time.Second), 89*time.Second + 500*time.Millisecond}, // the date has whole seconds
		{now.Add(90 * time.Second).Format(time.RFC850), 89*time.Second + 500*time.Millisecond},
		{now.Add(90 * time.Second).Format(time.ANSIC), 89*time.Second + 500*time.Millisecond},
		{date(-time.Hour), 0},
		{date(48 * time.Hour), MaxRetryAfter},
		{"Fri, 31 Dec 9999 23:59:59 GMT", MaxRetryAfter},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0},
		{"Wed, 32 Oct 2026 07:28:00 GMT", 0},
		{strings.Repeat("9", 100000), MaxRetryAfter},
		{strings.Repeat("0", 100000) + "7", 7 * time.Second},
		{date(90*time.Second) + strings.Repeat("x", 100000), 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
