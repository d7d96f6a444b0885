// Command marketplace is the marketplace worker: it consumes the
// marketplace.push queue, pushes shipment tracking to the Shopify, Etsy or
// Amazon store an order came from, writes a receipt of each push to S3 and
// reports the outcome as MarketplacePushed (see internal/app). Its admin
// listener (/metrics, /healthz, /readyz, pprof) defaults to 127.0.0.1:9205.
package main

import (
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/workers/marketplace/internal/server"
)

func main() { run.Main("marketplace", server.Serve, run.AdminAddr("127.0.0.1:9205")) }
