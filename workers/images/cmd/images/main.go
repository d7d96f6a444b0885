// Command images is the image worker: it validates uploaded designs and
// renders print files and mockups, consuming the images.designs and
// images.renders queues (see internal/server). Its admin listener
// (/metrics, /healthz, /readyz, pprof) defaults to 127.0.0.1:9204.
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/workers/images/internal/server"
)

func main() { run.Main("images", server.Serve, run.AdminAddr("127.0.0.1:9204")) }
