module github.com/printfleet/printfleet/tests/e2e

go 1.26.0
