package standin

import "strconv"

// TenantID returns the ID of tenant number i: "t0", "t1", …
func TenantID(i int) string { return "t" + strconv.Itoa(i) }

// TenantIDs returns the IDs of tenants 0..n-1.
func TenantIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = TenantID(i)
	}
	return ids
}

// TenantIndex is the inverse of TenantID; it reports false for an ID that
// TenantID does not produce.
func TenantIndex(id string) (int, bool) {
	if len(id) < 2 || id[0] != 't' || (id[1] == '0' && len(id) > 2) {
		return 0, false
	}
	n := 0
	for _, c := range []byte(id[1:]) {
		if c < '0' || c > '9' || n > (1<<31)/10 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// apiDomain is the domain of the tenants' API hosts.
const apiDomain = ".api.test"

// TenantHost returns the API host of a tenant: "<id>.api.test". The API
// reads the tenant a request is for from its host.
func TenantHost(id string) string { return id + apiDomain }
