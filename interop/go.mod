module github.com/tenantauth/tenantauth/interop

go 1.24

require github.com/tenantauth/tenantauth v0.0.0

require (
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/sony/gobreaker/v2 v2.4.0 // indirect
)

replace github.com/tenantauth/tenantauth => ../
