// Command catalog-worker consumes catalog.stock (reserves and releases blank
// stock for orders), catalog.projector (keeps the Redis product projections
// current, rebuilding them at start when incomplete) and catalog.designs
// (records the image worker's verdicts), and relays the catalog's outbox.
//
// Environment: docs/configuration/catalog-worker.md. Admin listener:
// PRINTFLEET_ADMIN_ADDR (127.0.0.1:9208).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/server"
)

func main() { run.Main("catalog-worker", server.ServeWorker, run.AdminAddr("127.0.0.1:9208")) }
