// Command catalog-rebuild-projections rebuilds every product projection in
// Redis from PostgreSQL (the read replica when PRINTFLEET_PG_READ_URL is set)
// and exits.
//
// Environment: as cmd/catalog-seed-demo. Admin listener: an ephemeral port
// unless PRINTFLEET_ADMIN_ADDR is set.
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/server"
)

func main() {
	run.Main("catalog-rebuild-projections", server.ServeRebuildProjections, run.AdminAddr("127.0.0.1:0"))
}
