package redis

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// The Lua scripts below run atomically on the server: no other command
// runs between their GET and their write. rueidis sends them with EVALSHA
// and falls back to EVAL when the server does not have them (after a
// restart or SCRIPT FLUSH).
var (
	// fencedSet sets KEYS[1] to ARGV[1] for ARGV[2] ms if the lock KEYS[2]
	// holds ARGV[3], and returns 1; otherwise it writes nothing and returns
	// 0. Running it twice writes the same value: it is idempotent.
	fencedSet = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[2]) == ARGV[3] then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 1
end
return 0`)

	// deleteIfPrefix deletes KEYS[1] if its value starts with ARGV[1] and
	// returns 1; otherwise it returns 0. Lua strings are byte strings, so
	// the comparison is binary-safe. It is not idempotent: a second run
	// after a lost reply would report that it deleted nothing.
	deleteIfPrefix = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return 1
end
return 0`)

	// unlock deletes the lock KEYS[1] if it holds ARGV[1]. It is
	// idempotent: the fence value is unique.
	unlock = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)
)

// fenceSource makes the values of Lock: a random 128-bit prefix drawn once
// per Store and a counter, unique among every Lock of every replica without
// drawing randomness on each call.
type fenceSource struct {
	prefix string
	seq    atomic.Uint64
}

func newFenceSource() (*fenceSource, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redis: drawing the lock prefix: %w", err)
	}
	return &fenceSource{prefix: hex.EncodeToString(b[:]) + ":"}, nil
}

// next returns a new value, in one allocation.
func (f *fenceSource) next() string {
	var n [13]byte // a uint64 in base 36
	var b strings.Builder
	b.Grow(len(f.prefix) + len(n))
	b.WriteString(f.prefix)
	b.Write(strconv.AppendUint(n[:0], f.seq.Add(1), 36))
	return b.String()
}
