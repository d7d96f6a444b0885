// Command pricing-coupons prints every coupon with its usage counter and
// limit on stdout and exits.
//
// Environment: PRINTFLEET_PG_URL (the pricing database); see
// docs/configuration/pricing-coupons.md. Admin listener:
// PRINTFLEET_ADMIN_ADDR (an ephemeral port).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/server"
)

func main() { run.Main("pricing-coupons", server.ServeCoupons, run.AdminAddr("127.0.0.1:0")) }
