package server

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

// TestConfigReference keeps docs/configuration/catalog.md in step with the
// server's Config (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.PG.URL = config.Secret(DefaultPGURL) // SetDefaultEnv's default
	configtest.Check(t, "catalog", config.Markdown("catalog", configtest.Vars(t, cfg)))
}
