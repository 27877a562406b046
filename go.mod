module github.com/tenancykit/tenancy

go 1.24.0

require (
	github.com/casbin/casbin/v2 v2.135.0
	github.com/google/btree v1.1.3
	github.com/oklog/ulid/v2 v2.1.2
	go.etcd.io/bbolt v1.4.3
	golang.org/x/crypto v0.48.0
)

require (
	github.com/bmatcuk/doublestar/v4 v4.6.1 // indirect
	github.com/casbin/govaluate v1.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
)
