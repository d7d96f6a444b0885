// Command pricing-worker consumes the pricing.coupons queue: a placed order
// confirms the coupon use it reserved when it was created, a cancelled,
// rejected or unpaid order gives it back; it also expires reservations that
// no placement confirmed.
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
