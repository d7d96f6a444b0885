// Command orders serves the OrderService gRPC API and relays its outbox.
//
// Environment (all optional unless noted): PRINTFLEET_GRPC_ADDR
// (127.0.0.1:9101), PRINTFLEET_ADMIN_ADDR
// (127.0.0.1:9201), PRINTFLEET_PG_URL (the orders database), PRINTFLEET_PG_READ_URL,
// PRINTFLEET_REDIS_ADDRS, PRINTFLEET_AMQP_URL, PRINTFLEET_INTERNAL_SECRET
// (required), PRINTFLEET_CATALOG_ADDR, PRINTFLEET_PRICING_ADDR.
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/orders/internal/server"
)

func main() { run.Main("orders", server.Serve, run.AdminAddr("127.0.0.1:9201")) }
