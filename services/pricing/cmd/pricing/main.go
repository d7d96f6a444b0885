// Command pricing serves pricingv1.PricingService (gRPC 127.0.0.1:9103, admin
// 127.0.0.1:9203 by default). Subcommands: serve (default), seed-demo (load
// the demo price lists, idempotent), coupons (print coupons and their usage).
package main

import (
	"fmt"
	"os"

	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/server"
)

func main() {
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	server.SetDefaults()
	switch cmd {
	case "serve":
		run.Main("pricing", server.Serve, run.AdminAddr(server.DefaultAdminAddr))
	case "seed-demo":
		run.Main("pricing-seed-demo", server.SeedDemo)
	case "coupons":
		run.Main("pricing-coupons", server.ListCoupons)
	default:
		fmt.Fprintln(os.Stderr, "usage: pricing [serve | seed-demo | coupons]")
		os.Exit(2)
	}
}
