//go:build !race

package cache

// raceEnabled skips checks that the race detector distorts (timings,
// memory per entry).
const raceEnabled = false
