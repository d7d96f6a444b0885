// Command bench is `make bench`: the machine's own limits and the fleet's
// scenarios in one run, held against DESIGN.md's budgets. It prints the
// table and writes bench/results/<date>.json and <date>.png.
package main

import (
	"fmt"
	"os"

	"github.com/printfleet/printfleet/bench/internal/cli"
)

func main() {
	if err := cli.Run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
