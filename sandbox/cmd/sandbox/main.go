// Command sandbox serves the stand-ins for the outside world the fleet calls — the
// payment provider, the marketplaces, sellers' webhook endpoints and a parcel carrier — on four
// local addresses until SIGTERM.
package main

import (
	"fmt"
	"os"

	"github.com/printfleet/printfleet/platform/run"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(2)
	}
	run.Main("sandbox", cfg.serve)
}
