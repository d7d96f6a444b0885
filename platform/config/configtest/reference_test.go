package configtest_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/telemetry"
)

// TestConfigReference renders what every process reads: run's Config and
// the telemetry variables (read directly from the environment).
func TestConfigReference(t *testing.T) {
	vars := configtest.Vars(t, run.Config{})
	vars = append(vars,
		config.Var{Name: telemetry.TraceFileEnv, Type: "string",
			Description: "Appends every finished span to this file as JSON lines (development and the end-to-end suite); unset: no file."},
		config.Var{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Type: "string",
			Description: "Exports spans over OTLP/gRPC to this endpoint; unset (with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): spans are not exported. The exporter's other standard OTEL_EXPORTER_OTLP_* variables apply."},
		config.Var{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Type: "string",
			Description: "As OTEL_EXPORTER_OTLP_ENDPOINT, for traces only."},
	)
	configtest.Check(t, "common", config.Markdown("Every process", vars))
}

// The index links every generated page, and every page it links exists.
func TestConfigIndexLinksEveryPage(t *testing.T) {
	root := configtest.Root(t)
	index, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "configuration", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pages {
		name := "configuration/" + filepath.Base(p)
		names = append(names, name)
		if !strings.Contains(string(index), "("+name+")") {
			t.Errorf("docs/configuration.md does not link %s", name)
		}
	}
	sort.Strings(names)
	for _, line := range strings.Split(string(index), "\n") {
		_, rest, ok := strings.Cut(line, "](configuration/")
		if !ok {
			continue
		}
		link, _, _ := strings.Cut(rest, ")")
		if _, err := os.Stat(filepath.Join(root, "docs", "configuration", link)); err != nil {
			t.Errorf("docs/configuration.md links configuration/%s, which does not exist (pages: %v)", link, names)
		}
	}
}
