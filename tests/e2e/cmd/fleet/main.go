// Command fleet is `make run`: it builds every binary, starts the whole
// fleet and the sandbox as separate processes, loads the demo catalog and
// price lists, prints where to point a browser or curl, and stops everything
// cleanly on Ctrl-C.
package main

import (
	"fmt"
	"os"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

func main() {
	if err := fleet.RunLocal(os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}
