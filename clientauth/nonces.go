package clientauth

import (
	"sync"
	"sync/atomic"
)

// MaxNonceHosts bounds how many servers' nonces a [Nonces] remembers.
const MaxNonceHosts = 4096

// Nonces remembers the last DPoP-Nonce each server sent (RFC 9449 §8, §9),
// for the next proof to it. Nonces are the server's, not a client's: the
// tenants of one host share them. It is bounded: past [MaxNonceHosts]
// hosts it forgets them all (a server that wants a nonce sends it again),
// so that a client reaching any number of hosts holds a bounded number.
// The zero value is ready to use; it is safe for concurrent use, and a
// Get does not allocate.
type Nonces struct {
	m sync.Map     // host → string
	n atomic.Int64 // hosts in m, about
}

// Get returns host's last nonce, "" when it sent none.
func (ns *Nonces) Get(host string) string {
	if v, ok := ns.m.Load(host); ok {
		return v.(string)
	}
	return ""
}

// Set remembers nonce, read with [NonceFrom] from an answer of host.
func (ns *Nonces) Set(host, nonce string) {
	old, had := ns.m.Load(host)
	if had && old.(string) == nonce {
		return // storing would allocate
	}
	if !had && ns.n.Add(1) > MaxNonceHosts {
		ns.m.Clear()
		ns.n.Store(1)
	}
	ns.m.Store(host, nonce)
}
