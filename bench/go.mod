module github.com/printfleet/printfleet/bench

go 1.26.0
