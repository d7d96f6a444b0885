// Command gateway is printfleet's REST edge (see internal/gateway). REST on
// PRINTFLEET_HTTP_ADDR (127.0.0.1:8080), admin on PRINTFLEET_ADMIN_ADDR
// (127.0.0.1:9200).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/gateway/internal/server"
)

func main() { run.Main("gateway", server.Serve, run.AdminAddr("127.0.0.1:9200")) }
