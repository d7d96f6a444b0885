package server

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

// TestConfigReference keeps docs/configuration/marketplace.md in step with
// the worker's Config (regenerate with -update), its own defaults included.
func TestConfigReference(t *testing.T) {
	t.Parallel()
	configtest.Check(t, "marketplace", config.Markdown("marketplace", defaults.Apply(configtest.Vars(t, Config{}))))
}
