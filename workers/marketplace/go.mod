module github.com/printfleet/printfleet/workers/marketplace

go 1.26.0

require (
	github.com/printfleet/printfleet/sandbox v0.0.0
	golang.org/x/sync v0.24.0
	golang.org/x/time v0.15.0
)

replace github.com/printfleet/printfleet/sandbox => ../../sandbox
