// Command render regenerates what the repository derives from the Helm chart
// and the dashboard definition: the Grafana dashboard JSON, the chart's copies
// of the observability files (alert rules, dashboard) and the kubectl
// manifests in deploy/k8s/manifests. Run it from the repository
// root (or pass -root):
//
//	go run ./deploy/cmd/render          # write
//	go run ./deploy/cmd/render -check   # exit 1 when something is stale
//
// With -values it renders the chart with your values files to -out instead,
// for `kubectl apply -f <out>`:
//
//	go run ./deploy/cmd/render -values my-values.yaml -out /tmp/printfleet
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/printfleet/printfleet/deploy/internal/render"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	root := flag.String("root", ".", "repository root")
	check := flag.Bool("check", false, "report stale generated files and exit 1, without writing")
	var values list
	flag.Var(&values, "values", "values file merged over the chart's defaults (repeatable); renders to -out")
	out := flag.String("out", "", "output directory for -values")
	namespace := flag.String("namespace", "printfleet", "namespace for -values")
	release := flag.String("release", "printfleet", "release name for -values")
	flag.Parse()
	var err error
	if len(values) > 0 {
		err = custom(*root, values, *out, *release, *namespace)
	} else {
		err = generate(*root, *check)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func generate(root string, check bool) error {
	staleDashboard, err := render.SyncDashboard(root, !check)
	if err != nil {
		return err
	}
	stale, err := render.SyncChartFiles(root, !check)
	if err != nil {
		return err
	}
	if staleDashboard {
		stale = append(stale, filepath.Join(render.ObservabilityDir, render.DashboardFile))
	}
	if check && len(stale) > 0 {
		// Rendering would read the stale copies; report them first.
		return fmt.Errorf("stale: %s (run go run ./deploy/cmd/render)", strings.Join(stale, ", "))
	}
	outs, err := render.Generate(root)
	if err != nil {
		return err
	}
	var diffs []string
	for _, o := range outs {
		dir := filepath.Join(root, o.Dir)
		if check {
			d, err := render.Diff(dir, o.Files)
			if err != nil {
				return err
			}
			diffs = append(diffs, d...)
			continue
		}
		if err := render.WriteDir(dir, o.Files); err != nil {
			return err
		}
		fmt.Printf("wrote %d files to %s\n", len(o.Files), o.Dir)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("generated files are stale (run go run ./deploy/cmd/render):\n  %s", strings.Join(diffs, "\n  "))
	}
	return nil
}

func custom(root string, values []string, out, release, namespace string) error {
	if out == "" {
		return fmt.Errorf("-values needs -out")
	}
	docs, err := render.Chart(render.Options{
		ChartDir: filepath.Join(root, render.ChartDir), ValuesFiles: values,
		Release: release, Namespace: namespace,
	})
	if err != nil {
		return err
	}
	files := render.Files(docs, fmt.Sprintf("# Rendered by `go run ./deploy/cmd/render` from %s with %s.\n",
		render.ChartDir, strings.Join(values, ", ")))
	if err := render.WriteDir(out, files); err != nil {
		return err
	}
	fmt.Printf("wrote %d files to %s\n", len(files), out)
	return nil
}
