// Command catalog-seed-demo loads the demo catalog (idempotent), then prints
// the demo variants (ids, SKUs, prices) as JSON on stdout.
//
// Environment: PRINTFLEET_PG_* (the catalog database by default),
// PRINTFLEET_REDIS_* and PRINTFLEET_CATALOG_REDIS_PREFIX. Admin listener:
// an ephemeral port unless PRINTFLEET_ADMIN_ADDR is set.
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/server"
)

func main() { run.Main("catalog-seed-demo", server.ServeSeedDemo, run.AdminAddr("127.0.0.1:0")) }
