package k8s

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestHelmLint runs `helm lint`'s rules (Chart.yaml, values, templates,
// object names, deprecated APIs for the oldest supported Kubernetes) with each
// values file; warnings fail too, like `helm lint --strict`.
func TestHelmLint(t *testing.T) {
	t.Parallel()
	kube, err := chartutil.ParseKubeVersion("v1.30.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"", "values-production.yaml", "values-dev.yaml"} {
		vals := map[string]any{}
		if f != "" {
			v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, f))
			if err != nil {
				t.Fatal(err)
			}
			vals = v.AsMap()
		}
		l := lint.AllWithKubeVersion(chartDir, vals, "printfleet", kube)
		for _, m := range l.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: %s", f, m)
			} else {
				t.Logf("%s: %s", f, m)
			}
		}
	}
}
