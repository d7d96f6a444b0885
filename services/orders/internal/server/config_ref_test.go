package server_test

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	"github.com/printfleet/printfleet/services/orders/internal/server"
)

// TestConfigReference keeps docs/configuration/orders.md and
// orders-worker.md in step with the two processes' configurations
// (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	// Without PRINTFLEET_PG_URL both processes use the orders database.
	var api server.APIConfig
	api.PG.URL = config.Secret(server.DefaultPGURL)
	configtest.Check(t, "orders", config.Markdown("orders", configtest.Vars(t, api)))
	var worker server.WorkerConfig
	worker.PG.URL = config.Secret(server.DefaultPGURL)
	configtest.Check(t, "orders-worker", config.Markdown("orders-worker", configtest.Vars(t, worker)))
}
