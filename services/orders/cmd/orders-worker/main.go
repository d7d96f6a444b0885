// Command orders-worker consumes the orders.worker queue (stock, print files,
// marketplace pushes, cancellations), charges and refunds through the payment
// provider, and relays its outbox.
//
// Environment: as cmd/orders for PostgreSQL, Redis, AMQP and the internal
// secret, plus PRINTFLEET_PAYMENT_URL (http://127.0.0.1:9301) and
// PRINTFLEET_PAYMENT_API_KEY (required, sk_test_… for the sandbox). Admin
// listener: PRINTFLEET_ADMIN_ADDR (127.0.0.1:9207).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/orders/internal/server"
)

func main() { run.Main("orders-worker", server.ServeWorker, run.AdminAddr("127.0.0.1:9207")) }
