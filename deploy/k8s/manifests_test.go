package k8s

import (
	"path/filepath"
	"testing"

	"github.com/printfleet/printfleet/deploy/internal/render"
)

// TestManifestsAreCurrent fails when the committed kubectl manifests, the
// dashboard JSON or the chart's copies of the observability files differ from
// what the chart, package dashboard and observability/ produce now. Fix: go run ./deploy/cmd/render (make manifests).
func TestManifestsAreCurrent(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if stale, err := render.SyncDashboard(root, false); err != nil {
		t.Fatal(err)
	} else if stale {
		t.Errorf("stale %s/%s; run go run ./deploy/cmd/render", render.ObservabilityDir, render.DashboardFile)
	}
	stale, err := render.SyncChartFiles(root, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		t.Errorf("stale chart copy %s; run go run ./deploy/cmd/render", f)
	}
	outs, err := render.Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if len(o.Files) == 0 {
			t.Errorf("%s: nothing rendered", o.Dir)
		}
		diffs, err := render.Diff(filepath.Join(root, o.Dir), o.Files)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diffs {
			t.Errorf("%s; run go run ./deploy/cmd/render", d)
		}
	}
}
