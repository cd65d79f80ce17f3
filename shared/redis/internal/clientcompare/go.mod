module github.com/tenantauth/tenantauth/shared/redis/internal/clientcompare

go 1.26.0

replace (
	github.com/tenantauth/tenantauth => ../../../../
	github.com/tenantauth/tenantauth/shared/redis => ../../
)

require (
	github.com/redis/go-redis/v9 v9.23.0
	github.com/tenantauth/tenantauth v0.0.0-00010101000000-000000000000
	github.com/tenantauth/tenantauth/shared/redis v0.0.0-00010101000000-000000000000
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/redis/rueidis v1.0.80 // indirect
	github.com/sony/gobreaker/v2 v2.4.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
