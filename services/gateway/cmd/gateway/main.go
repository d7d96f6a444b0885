// Command gateway is printfleet's REST edge (see internal/gateway).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/gateway/internal/server"
)

func main() { run.Main("gateway", server.Serve) }
