module github.com/printfleet/printfleet/sandbox

go 1.26.0
