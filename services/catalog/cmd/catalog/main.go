// Command catalog runs the catalog service (gRPC 127.0.0.1:9102, admin
// 127.0.0.1:9202) or one of its subcommands: rebuild-projections, seed-demo,
// demo-data.
package main

import (
	"fmt"
	"os"

	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/server"
)

func main() {
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	serve, ok := server.Commands[cmd]
	if !ok {
		fmt.Fprint(os.Stderr, server.Usage)
		os.Exit(2)
	}
	server.SetDefaultEnv(cmd == "" || cmd == "serve")
	run.Main("catalog", serve, run.AdminAddr(server.AdminAddr))
}
