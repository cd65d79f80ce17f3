//go:build race

package redis_test

// raceEnabled reports whether the tests run under the race detector, which
// makes every call several times slower.
const raceEnabled = true
