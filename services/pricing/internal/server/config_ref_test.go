package server

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

// TestConfigReference keeps docs/configuration/pricing.md in step with the
// serve command's Config (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.PG.URL = config.Secret(DefaultPGURL) // SetDefaults' default
	configtest.Check(t, "pricing", config.Markdown("pricing", configtest.Vars(t, cfg)))
}
