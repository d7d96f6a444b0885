package server

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

// TestConfigReference keeps docs/configuration/catalog.md and
// catalog-worker.md in step with the long-running processes'
// configurations and their own defaults (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	configtest.Check(t, "catalog", config.Markdown("catalog", commonDefaults.Apply(configtest.Vars(t, APIConfig{}))))
	configtest.Check(t, "catalog-worker", config.Markdown("catalog-worker", workerDefaults.Apply(configtest.Vars(t, WorkerConfig{}))))
}
