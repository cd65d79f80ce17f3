module github.com/tenantauth/tenantauth/shared/redis

go 1.26.0

replace github.com/tenantauth/tenantauth => ../../

require (
	github.com/redis/rueidis v1.0.80
	github.com/tenantauth/tenantauth v0.0.0-00010101000000-000000000000
)

require (
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/sony/gobreaker/v2 v2.4.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
