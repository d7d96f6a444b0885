// Command pricing serves pricingv1.PricingService from an in-memory snapshot
// of the price data, kept fresh by LISTEN/NOTIFY and a version poll.
//
// Environment: PRINTFLEET_GRPC_ADDR (127.0.0.1:9103), PRINTFLEET_PG_URL (the
// pricing database), PRINTFLEET_INTERNAL_SECRET (required),
// PRINTFLEET_PRICING_LISTEN, PRINTFLEET_PRICING_POLL_INTERVAL; see
// docs/configuration/pricing.md. Admin listener: PRINTFLEET_ADMIN_ADDR
// (127.0.0.1:9203).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/server"
)

func main() { run.Main("pricing", server.Serve, run.AdminAddr("127.0.0.1:9203")) }
