package worker

import (
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

// TestConfigReference keeps docs/configuration/images.md in step with the
// worker's Config (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	configtest.Check(t, "images", config.Markdown("images", configtest.Vars(t, Config{})))
}
