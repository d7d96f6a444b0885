package server_test

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	"github.com/printfleet/printfleet/services/gateway/internal/server"
)

// TestConfigReference keeps docs/configuration/gateway.md in step with the
// gateway's Config (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	configtest.Check(t, "gateway", config.Markdown("gateway", configtest.Vars(t, server.Config{})))
}
