// Command images is the image worker: it validates uploaded designs and
// renders print files and mockups (see internal/worker). Its admin
// listener (/metrics, /healthz, /readyz, pprof) defaults to 127.0.0.1:9204.
package main

import (
	"os"

	"github.com/printfleet/printfleet/platform/run"

	"github.com/printfleet/printfleet/workers/images/internal/worker"
)

const defaultAdminAddr = "127.0.0.1:9204"

func main() {
	if os.Getenv("PRINTFLEET_ADMIN_ADDR") == "" {
		_ = os.Setenv("PRINTFLEET_ADMIN_ADDR", defaultAdminAddr)
	}
	run.Main("images", worker.Serve)
}
