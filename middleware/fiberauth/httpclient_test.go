package fiberauth

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
)

func TestHTTPClient(t *testing.T) {
	p := newFakeProvider()
	m := newManager(t, p, tenantSpec{id: "acme"}, tenantSpec{id: "fenced", hosts: []string{"api.fenced.test"}})
	var rejectNext atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rejectNext.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	defer api.Close()

	client := HTTPClient(m)
	defer client.CloseIdleConnections()
	var callErr error
	app := fiber.New()
	app.Use(New())
	app.Get("/", func(c *fiber.Ctx) error {
		req, err := http.NewRequestWithContext(c.UserContext(), http.MethodGet, api.URL, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		callErr = err
		if err != nil {
			return c.Status(599).SendString(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return c.Status(resp.StatusCode).Send(b)
	})

	if code, body := get(t, app, "/", "acme"); code != 200 || body != "Bearer tok-acme-1" {
		t.Fatalf("got %d %q", code, body)
	}
	rejectNext.Store(true)
	if code, body := get(t, app, "/", "acme"); code != 200 || body != "Bearer tok-acme-2" {
		t.Fatalf("after a 401: got %d %q, want the fresh token", code, body)
	}
	if code, _ := get(t, app, "/", "fenced"); code != 599 || !errors.Is(callErr, tenantauth.ErrHostNotAllowed) {
		t.Fatalf("fenced tenant to a foreign host: got %d, err %v", code, callErr)
	}
}
