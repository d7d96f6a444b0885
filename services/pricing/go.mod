module github.com/printfleet/printfleet/services/pricing

go 1.26.0

require (
	github.com/printfleet/printfleet/platform v0.0.0
	github.com/printfleet/printfleet/proto v0.0.0
)

require github.com/google/uuid v1.6.0 // indirect

replace (
	github.com/printfleet/printfleet/platform => ../../platform
	github.com/printfleet/printfleet/proto => ../../proto
)
