//go:build !unix

package load

import "time"

// cpuTime is not available here: the fill scenarios report no CPU time.
func cpuTime() time.Duration { return 0 }
