// Package configtest keeps the configuration reference under docs/ in step
// with the configuration structs: each binary's test renders its variables
// and compares them with docs/configuration/<binary>.md, which
// `go test <package> -run ConfigReference -update` rewrites.
package configtest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/config"
)

var update = flag.Bool("update", false, "rewrite docs/configuration/*.md from the configuration structs")

// Vars is config.Reference of every cfg, in order, with descriptions. It
// fails t unless each reference names exactly the variables config.Load
// reads for that type.
func Vars(t testing.TB, cfgs ...any) []config.Var {
	t.Helper()
	var vars []config.Var
	seen := map[string]bool{}
	for _, c := range cfgs {
		ref := config.Reference(c)
		Mirror(t, c, ref)
		for _, v := range ref {
			if !seen[v.Name] {
				seen[v.Name] = true
				vars = append(vars, v)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := config.Describe(ctx, vars); err != nil {
		t.Fatal(err)
	}
	return vars
}

// Mirror loads a zero value of cfg's type with config.LoadFrom, answering
// every variable in ref with a valid sample value, and fails t if the loader
// asks for a variable ref does not name, skips one it names, or fails.
func Mirror(t testing.TB, cfg any, ref []config.Var) {
	t.Helper()
	typ := reflect.TypeOf(cfg)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	known := map[string]config.Var{}
	for _, v := range ref {
		known[v.Name] = v
	}
	asked := map[string]bool{}
	l := lookuper(func(key string) (string, bool) {
		// Every Load reads PRINTFLEET_ENV; run.Config documents it for every
		// process.
		if _, listed := known[key]; key == config.EnvVar && !listed {
			return "", false
		}
		asked[key] = true
		v, ok := known[key]
		if !ok {
			return "", false
		}
		return sample(v.Type), true
	})
	if err := config.LoadFrom(context.Background(), reflect.New(typ).Interface(), l); err != nil {
		t.Errorf("%s: loading with every referenced variable set: %v", typ, err)
	}
	for key := range asked {
		if _, ok := known[key]; !ok {
			t.Errorf("%s: the loader reads %s, which the reference does not list", typ, key)
		}
	}
	for _, v := range ref {
		if !asked[v.Name] {
			t.Errorf("%s: the reference lists %s, which the loader never reads", typ, v.Name)
		}
	}
}

type lookuper func(string) (string, bool)

func (f lookuper) Lookup(key string) (string, bool) { return f(key) }

// sample is a value every field of the type accepts.
func sample(typ string) string {
	switch {
	case strings.HasPrefix(typ, "list of "):
		return sample(strings.TrimPrefix(typ, "list of "))
	case typ == "bool":
		return "true"
	case typ == "duration":
		return "1s"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"), strings.HasPrefix(typ, "float"):
		return "1"
	case typ == "map":
		return "k:v"
	}
	return "x"
}

// Check compares markdown with docs/configuration/<binary>.md at the
// repository root (rewriting it with -update).
func Check(t testing.TB, binary, markdown string) {
	t.Helper()
	path := filepath.Join(Root(t), "docs", "configuration", binary+".md")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(markdown), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != markdown {
		wd, _ := os.Getwd()
		t.Errorf("%s is not the reference of the configuration structs (%v); regenerate it: cd %s && go test . -run ConfigReference -update\nwant:\n%s",
			path, err, wd, markdown)
	}
}

// Root is the repository root: the closest directory above the working
// directory that holds go.work.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = parent
	}
}
