module github.com/printfleet/printfleet/workers/images

go 1.26.0

require github.com/davidbyttow/govips/v2 v2.16.0

require (
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/image v0.18.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace (
	github.com/printfleet/printfleet/platform => ../../platform
	github.com/printfleet/printfleet/proto => ../../proto
)
