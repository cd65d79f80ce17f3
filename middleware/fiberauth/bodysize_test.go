package fiberauth

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// hugeAnswer listens on loopback and answers every request with a header
// that announces a terabyte of body, then a little of it: what a hostile
// or broken tenant API can do.
func hugeAnswer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for { // read the request head
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n" + strings.Repeat("x", 1024)))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDefaultClientsBoundAnswers: the default fasthttp clients of Proxy and
// Client refuse an answer beyond DefaultMaxResponseBodySize instead of
// reading it into memory.
func TestDefaultClientsBoundAnswers(t *testing.T) {
	addr := hugeAnswer(t)
	m := newManager(t, newFakeProvider(), tenantSpec{"acme", []string{addr}})

	app := fiber.New()
	app.Use(New(Config{}))
	app.All("/api/*", Proxy(ProxyConfig{Manager: m, StripPrefix: "/api",
		Upstream: func(context.Context, string) (string, error) { return "http://" + addr, nil }}))
	req := httptest.NewRequest("GET", "/api/x", nil)
	req.Header.Set(HeaderTenantID, "acme")
	if code, body := do(t, app, req); code != fiber.StatusBadGateway {
		t.Fatalf("Proxy: %d %q, want 502", code, body)
	}

	cl := NewClient(ClientConfig{Manager: m})
	var callErr error
	app.Get("/call", func(c *fiber.Ctx) error {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI("http://" + addr + "/x")
		callErr = cl.Do(c, req, nil)
		return c.SendStatus(fiber.StatusNoContent)
	})
	req = httptest.NewRequest("GET", "/call", nil)
	req.Header.Set(HeaderTenantID, "acme")
	do(t, app, req)
	if !errors.Is(callErr, fasthttp.ErrBodyTooLarge) {
		t.Fatalf("Client: %v, want fasthttp.ErrBodyTooLarge", callErr)
	}
}
