// Command pricing-worker consumes the pricing.coupons queue: every placed
// order that used a coupon counts one use against the coupon's limit.
//
// Environment: PRINTFLEET_PG_URL (the pricing database), PRINTFLEET_AMQP_URL,
// PRINTFLEET_PRICING_WORKER_QUEUE (pricing.coupons); see
// docs/configuration/pricing-worker.md. Admin listener:
// PRINTFLEET_ADMIN_ADDR (127.0.0.1:9209).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/server"
)

func main() { run.Main("pricing-worker", server.ServeWorker, run.AdminAddr("127.0.0.1:9209")) }
