package render

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Main is the body of deploy/cmd/render. Without -values it regenerates what
// the repository derives from the Helm chart and the dashboard definition:
// the Grafana dashboard JSON, the chart's copies of the observability files
// (alert rules, dashboard) and the kubectl manifests in deploy/k8s/manifests;
// with -check it only reports what is stale. With -values it renders the
// chart with those values files to -out instead, for `kubectl apply -f <out>`.
//
// args exclude the program name. A bad flag prints the usage and exits, as
// the flag package does; otherwise Main returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root")
	check := fs.Bool("check", false, "report stale generated files and exit 1, without writing")
	var values stringList
	fs.Var(&values, "values", "values file merged over the chart's defaults (repeatable); renders to -out")
	out := fs.String("out", "", "output directory for -values")
	namespace := fs.String("namespace", "printfleet", "namespace for -values")
	release := fs.String("release", "printfleet", "release name for -values")
	_ = fs.Parse(args) // ExitOnError: Parse exits on a bad flag
	var err error
	if len(values) > 0 {
		err = renderValues(stdout, *root, values, *out, *release, *namespace)
	} else {
		err = regenerate(stdout, *root, *check)
	}
	if err != nil {
		fmt.Fprintln(stderr, "render:", err)
		return 1
	}
	return 0
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func regenerate(stdout io.Writer, root string, check bool) error {
	staleDashboard, err := SyncDashboard(root, !check)
	if err != nil {
		return err
	}
	stale, err := SyncChartFiles(root, !check)
	if err != nil {
		return err
	}
	if staleDashboard {
		stale = append(stale, filepath.Join(ObservabilityDir, DashboardFile))
	}
	if check && len(stale) > 0 {
		// Rendering would read the stale copies; report them first.
		return fmt.Errorf("stale: %s (run go run ./deploy/cmd/render)", strings.Join(stale, ", "))
	}
	outs, err := Generate(root)
	if err != nil {
		return err
	}
	var diffs []string
	for _, o := range outs {
		dir := filepath.Join(root, o.Dir)
		if check {
			d, err := Diff(dir, o.Files)
			if err != nil {
				return err
			}
			diffs = append(diffs, d...)
			continue
		}
		if err := WriteDir(dir, o.Files); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d files to %s\n", len(o.Files), o.Dir)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("generated files are stale (run go run ./deploy/cmd/render):\n  %s", strings.Join(diffs, "\n  "))
	}
	return nil
}

func renderValues(stdout io.Writer, root string, values []string, out, release, namespace string) error {
	if out == "" {
		return fmt.Errorf("-values needs -out")
	}
	docs, err := Chart(Options{
		ChartDir: filepath.Join(root, ChartDir), ValuesFiles: values,
		Release: release, Namespace: namespace,
	})
	if err != nil {
		return err
	}
	files := Files(docs, fmt.Sprintf("# Rendered by `go run ./deploy/cmd/render` from %s with %s.\n",
		ChartDir, strings.Join(values, ", ")))
	if err := WriteDir(out, files); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d files to %s\n", len(files), out)
	return nil
}
