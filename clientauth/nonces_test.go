package clientauth

import (
	"strconv"
	"sync"
	"testing"
)

func TestNonces(t *testing.T) {
	var ns Nonces
	if got := ns.Get("a"); got != "" {
		t.Errorf("empty Get = %q", got)
	}
	ns.Set("a", "n1")
	ns.Set("a", "n2")
	if got := ns.Get("a"); got != "n2" {
		t.Errorf("Get = %q; want the latest, n2", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = ns.Get("a") }); n != 0 {
		t.Errorf("Get allocates %v times", n)
	}
	// Bounded: many hosts from many goroutines never hold more than the bound.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range MaxNonceHosts {
				ns.Set(strconv.Itoa(g)+"-"+strconv.Itoa(i), "n")
			}
		}()
	}
	wg.Wait()
	held := 0
	ns.m.Range(func(any, any) bool { held++; return true })
	if held > MaxNonceHosts+8 { // each goroutine may add one past a reset
		t.Errorf("%d hosts held; bound %d", held, MaxNonceHosts)
	}
}
