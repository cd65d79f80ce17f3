package sharedtest_test

import (
	"testing"

	"github.com/tenantauth/tenantauth/shared"
	"github.com/tenantauth/tenantauth/shared/sharedtest"
)

// A Store's test file runs the suite with one line; newStore is called
// once per subtest.
func ExampleTestStore() {
	// In a file store_test.go, as func TestStore(t *testing.T):
	test := func(t *testing.T) {
		sharedtest.TestStore(t, func(t *testing.T) shared.Store {
			m := shared.NewMemory(shared.MemoryConfig{})
			t.Cleanup(func() { m.Close() })
			return m
		})
	}
	_ = test
}
