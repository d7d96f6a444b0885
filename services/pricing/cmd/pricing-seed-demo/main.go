// Command pricing-seed-demo loads the demo price lists into the pricing
// database and exits; running it again changes nothing.
//
// Environment: PRINTFLEET_PG_URL (the pricing database); see
// docs/configuration/pricing-seed-demo.md. Admin listener:
// PRINTFLEET_ADMIN_ADDR (an ephemeral port).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/server"
)

func main() { run.Main("pricing-seed-demo", server.ServeSeedDemo, run.AdminAddr("127.0.0.1:0")) }
