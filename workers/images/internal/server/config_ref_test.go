package server_test

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"

	"github.com/printfleet/printfleet/workers/images/internal/server"
)

// TestConfigReference keeps docs/configuration/images.md in step with the
// process's Config and its Defaults (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	vars := server.Defaults.Apply(configtest.Vars(t, server.Config{}))
	configtest.Check(t, "images", config.Markdown("images", vars))
}
