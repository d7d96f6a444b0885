// Package render renders the printfleet Helm chart with Helm's own Go
// packages (loader, chartutil, engine) — what `helm template` does, without
// the helm binary — and writes the result as plain manifests for kubectl.
package render

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"
)

// Options say what to render.
type Options struct {
	// ChartDir is the chart's directory.
	ChartDir string
	// ValuesFiles are merged over the chart's values.yaml, later files winning.
	ValuesFiles []string
	// Values are merged last (like --set).
	Values map[string]any
	// Release and Namespace default to "printfleet".
	Release, Namespace string
	// IsUpgrade renders as `helm upgrade` would (hooks see .Release.IsUpgrade).
	IsUpgrade bool
}

// Document is one Kubernetes object as YAML.
type Document struct {
	// Source is the template it came from, e.g. "templates/deployment.yaml".
	Source string
	YAML   string
	// Kind and Name are read from the object.
	Kind, Name string
}

// Chart renders the chart and returns its documents sorted by template, in
// template order within one template. NOTES.txt and empty documents are left
// out. Values are checked against values.schema.json when the chart has one,
// and templates run in strict mode (a missing value is an error).
func Chart(o Options) ([]Document, error) {
	if o.Release == "" {
		o.Release = "printfleet"
	}
	if o.Namespace == "" {
		o.Namespace = "printfleet"
	}
	chrt, err := loader.Load(o.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", o.ChartDir, err)
	}
	user := map[string]any{}
	for _, f := range o.ValuesFiles {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			return nil, fmt.Errorf("values %s: %w", f, err)
		}
		user = merge(user, v.AsMap())
	}
	if o.Values != nil {
		user = merge(user, o.Values)
	}
	vals, err := chartutil.ToRenderValues(chrt, user, chartutil.ReleaseOptions{
		Name: o.Release, Namespace: o.Namespace, Revision: 1,
		IsInstall: !o.IsUpgrade, IsUpgrade: o.IsUpgrade,
	}, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, err
	}
	out, err := engine.Engine{Strict: true, LintMode: false}.Render(chrt, vals)
	if err != nil {
		return nil, err
	}
	return documents(chrt, out)
}

var separator = regexp.MustCompile(`(?m)^---\s*$`)

func documents(chrt *chart.Chart, rendered map[string]string) ([]Document, error) {
	prefix := chrt.Name() + "/"
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	var docs []Document
	for _, name := range names {
		src := strings.TrimPrefix(name, prefix)
		if path.Ext(src) != ".yaml" && path.Ext(src) != ".yml" {
			continue // NOTES.txt, helpers
		}
		for _, part := range separator.Split(rendered[name], -1) {
			if isBlank(part) {
				continue
			}
			var meta struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(part), &meta); err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", src, err, part)
			}
			if meta.Kind == "" || meta.Metadata.Name == "" {
				return nil, fmt.Errorf("%s: a document without kind or name:\n%s", src, part)
			}
			docs = append(docs, Document{Source: src, YAML: strings.TrimSpace(part) + "\n", Kind: meta.Kind, Name: meta.Metadata.Name})
		}
	}
	return docs, nil
}

// isBlank reports whether a YAML document holds nothing but comments.
func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// merge returns dst with src merged in, recursively for maps; src wins.
func merge(dst, src map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = merge(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Files lays documents out as manifest files: one file per template, named
// after it (templates/deployment.yaml → deployment.yaml), each starting with
// header. Keys are file names.
func Files(docs []Document, header string) map[string][]byte {
	bySource := map[string][]Document{}
	for _, d := range docs {
		bySource[d.Source] = append(bySource[d.Source], d)
	}
	files := map[string][]byte{}
	for src, ds := range bySource {
		var b bytes.Buffer
		b.WriteString(header)
		for i, d := range ds {
			if i > 0 {
				b.WriteString("---\n")
			}
			b.WriteString(d.YAML)
		}
		files[path.Base(src)] = b.Bytes()
	}
	return files
}

// WriteDir makes dir hold exactly files (other *.yaml files in it are
// removed; subdirectories are left alone).
func WriteDir(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := files[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Diff compares dir with files and describes every difference (missing,
// stale or extra *.yaml files); empty when they match.
func Diff(dir string, files map[string][]byte) ([]string, error) {
	var diffs []string
	old, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range old {
		if _, ok := files[filepath.Base(f)]; !ok {
			diffs = append(diffs, "extra "+f)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		have, err := os.ReadFile(filepath.Join(dir, n))
		switch {
		case os.IsNotExist(err):
			diffs = append(diffs, "missing "+filepath.Join(dir, n))
		case err != nil:
			return nil, err
		case !bytes.Equal(have, files[n]):
			diffs = append(diffs, "stale "+filepath.Join(dir, n))
		}
	}
	return diffs, nil
}
