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
	api := server.APIDefaults.Apply(configtest.Vars(t, server.APIConfig{}))
	configtest.Check(t, "orders", config.Markdown("orders", api))
	worker := server.WorkerDefaults.Apply(configtest.Vars(t, server.WorkerConfig{}))
	configtest.Check(t, "orders-worker", config.Markdown("orders-worker", worker))
}
