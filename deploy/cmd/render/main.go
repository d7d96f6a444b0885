// Command render regenerates what the repository derives from the Helm chart
// and the dashboard definition, or renders the chart with your values files
// (see render.Main). Run it from the repository root (or pass -root):
//
//	go run ./deploy/cmd/render          # write
//	go run ./deploy/cmd/render -check   # exit 1 when something is stale
//	go run ./deploy/cmd/render -values my-values.yaml -out /tmp/printfleet
package main

import (
	"os"

	"github.com/printfleet/printfleet/deploy/internal/render"
)

func main() { os.Exit(render.Main(os.Args[1:], os.Stdout, os.Stderr)) }
