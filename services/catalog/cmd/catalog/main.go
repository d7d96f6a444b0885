// Command catalog serves the CatalogService gRPC API (products, variants for
// orders, designs, marketplace stores) and relays the catalog's outbox.
//
// Environment: docs/configuration/catalog.md. PRINTFLEET_INTERNAL_SECRET and
// PRINTFLEET_CATALOG_CREDENTIALS_KEY are required; gRPC listens on
// PRINTFLEET_GRPC_ADDR (127.0.0.1:9102). Admin listener:
// PRINTFLEET_ADMIN_ADDR (127.0.0.1:9202).
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/server"
)

func main() { run.Main("catalog", server.ServeAPI, run.AdminAddr("127.0.0.1:9202")) }
