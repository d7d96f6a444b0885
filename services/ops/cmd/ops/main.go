// Command ops serves opsv1.DeadLetterService and parks the dead letters of
// every consumer queue (each <queue>.dlq) in the ops database.
//
// Environment: PRINTFLEET_GRPC_ADDR (127.0.0.1:9105), PRINTFLEET_PG_URL (the
// ops database), PRINTFLEET_AMQP_URL, PRINTFLEET_INTERNAL_SECRET (required)
// and the PRINTFLEET_OPS_* settings; see docs/configuration/ops.md. Admin
// listener: PRINTFLEET_ADMIN_ADDR (127.0.0.1:9212).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/ops/internal/server"
)

func main() { run.Main("ops", server.Serve, run.AdminAddr("127.0.0.1:9212")) }
