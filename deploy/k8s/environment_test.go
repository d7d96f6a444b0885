package k8s

import (
	"strings"
	"testing"
)

// The production values run every process with PRINTFLEET_ENV=production
// (published development secrets refused at start); the default and
// development values stay in development.
func TestEnvironmentPerValueSet(t *testing.T) {
	t.Parallel()
	want := map[string]string{"default": "development", "dev": "development", "production": "production", "everything": "production"}
	for name, r := range renderAll(t) {
		var got []string
		for _, cm := range r.configMaps {
			if v, ok := cm.Data["PRINTFLEET_ENV"]; ok {
				got = append(got, cm.Name+"="+v)
				if v != want[name] {
					t.Errorf("%s: ConfigMap %s sets PRINTFLEET_ENV=%q, want %q", name, cm.Name, v, want[name])
				}
			}
		}
		if len(got) != 1 {
			t.Errorf("%s: PRINTFLEET_ENV set by %d ConfigMaps (%s), want the common one", name, len(got), strings.Join(got, ", "))
		}
	}
}
