package config_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	"github.com/printfleet/printfleet/platform/postgres"
)

type refInner struct {
	// URL is where the store is.
	URL      config.Secret `env:"URL, default=postgres://u@h/db"`
	MaxConns int32         `env:"MAX_CONNS, default=16"` // pool size
}

type RefShared struct {
	Secret config.Secret `env:"INTERNAL_SECRET, required"`
}

type refLevel int

type refConfig struct {
	RefShared
	Addr  string        `env:"ADDR, default=127.0.0.1:9101"`
	PG    refInner      `env:", prefix=PG_"`
	Read  *refInner     `env:", prefix=PG_READ_"`
	Hosts []string      `env:"HOSTS, default=a,b,c"`
	Wait  time.Duration `env:"WAIT, default=2s"`
	Level refLevel      `env:"LEVEL"`
	Must  struct {
		Key string `env:"KEY"`
	} `env:", prefix=MUST_, required"`
	NoEnv  string
	hidden string
}

func TestReferenceMirrorsTheLoader(t *testing.T) {
	t.Parallel()
	got := config.Reference(refConfig{hidden: "unexported: not a variable"})
	want := []config.Var{
		{Name: "PRINTFLEET_INTERNAL_SECRET", Secret: true, Required: true, Type: "string", Struct: "RefShared", Field: "Secret"},
		{Name: "PRINTFLEET_ADDR", Default: "127.0.0.1:9101", Type: "string", Struct: "refConfig", Field: "Addr"},
		{Name: "PRINTFLEET_PG_URL", Default: "postgres://u@h/db", Secret: true, Type: "string", Struct: "refInner", Field: "URL"},
		{Name: "PRINTFLEET_PG_MAX_CONNS", Default: "16", Type: "int32", Struct: "refInner", Field: "MaxConns"},
		{Name: "PRINTFLEET_PG_READ_URL", Default: "postgres://u@h/db", Secret: true, Type: "string", Struct: "refInner", Field: "URL"},
		{Name: "PRINTFLEET_PG_READ_MAX_CONNS", Default: "16", Type: "int32", Struct: "refInner", Field: "MaxConns"},
		{Name: "PRINTFLEET_HOSTS", Default: "a,b,c", Type: "list of string", Struct: "refConfig", Field: "Hosts"},
		{Name: "PRINTFLEET_WAIT", Default: "2s", Type: "duration", Struct: "refConfig", Field: "Wait"},
		{Name: "PRINTFLEET_LEVEL", Type: "int", Struct: "refConfig", Field: "Level"},
		{Name: "PRINTFLEET_MUST_KEY", Required: true, Type: "string", Struct: "", Field: "Key"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d variables, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		g.Package = ""
		if g != w {
			t.Errorf("variable %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	// The loader reads exactly these names.
	configtest.Mirror(t, refConfig{}, got)
}

func TestReferenceShowsValuesSetInCode(t *testing.T) {
	t.Parallel()
	cfg := refConfig{Addr: "0.0.0.0:1", Wait: time.Minute, Hosts: []string{"x", "y"}}
	cfg.PG.URL = "postgres://orders"
	byName := map[string]string{}
	for _, v := range config.Reference(&cfg) {
		byName[v.Name] = v.Default
	}
	for name, want := range map[string]string{
		"PRINTFLEET_ADDR": "0.0.0.0:1", "PRINTFLEET_WAIT": "1m0s", "PRINTFLEET_HOSTS": "x,y",
		"PRINTFLEET_PG_URL": "postgres://orders", "PRINTFLEET_PG_READ_URL": "postgres://u@h/db",
	} {
		if byName[name] != want {
			t.Errorf("%s default = %q, want %q", name, byName[name], want)
		}
	}
}

func TestDescribeReadsFieldComments(t *testing.T) {
	t.Parallel()
	vars := append(config.Reference(postgres.Config{}), config.Reference(amqp.Config{})...)
	vars = append(vars, config.Reference(refConfig{})...) // test-only types: no source to read
	if err := config.Describe(context.Background(), vars); err != nil {
		t.Fatal(err)
	}
	desc := map[string]string{}
	for _, v := range vars {
		desc[v.Name] = v.Description
	}
	for name, want := range map[string]string{
		"PRINTFLEET_CONNECT_TIMEOUT": "ConnectTimeout bounds the first connection at start.", // doc comment
		"PRINTFLEET_PREFETCH":        "unacked deliveries per consumer",                      // line comment
		"PRINTFLEET_URL":             "",
	} {
		if desc[name] != want {
			t.Errorf("%s: description %q, want %q", name, desc[name], want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	md := config.Markdown("orders", []config.Var{
		{Name: "PRINTFLEET_A", Default: "x|y", Type: "string", Description: "A is\n  split | piped."},
		{Name: "PRINTFLEET_S", Default: "hunter2", Secret: true, Type: "string"},
		{Name: "PRINTFLEET_R", Required: true, Secret: true, Type: "string"},
		{Name: "PRINTFLEET_N", Type: "int"},
	})
	for _, want := range []string{
		"# orders\n",
		"| `PRINTFLEET_A` | string | `x\\|y` | no | A is split \\| piped. |",
		"| `PRINTFLEET_S` | string | `hunter2` (development only) | yes |  |",
		"| `PRINTFLEET_R` | string | **required** | yes |  |",
		"| `PRINTFLEET_N` | int | — | no |  |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// recorder is a testing.TB that keeps the failures it is told of.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

// Mirror notices a reference that misses a variable or names a stray one.
func TestMirrorCatchesDrift(t *testing.T) {
	t.Parallel()
	ref := config.Reference(refConfig{})
	missing := &recorder{TB: t}
	configtest.Mirror(missing, refConfig{}, ref[1:]) // without PRINTFLEET_INTERNAL_SECRET
	if len(missing.errs) == 0 {
		t.Error("a reference without a variable the loader reads passed")
	}
	stray := &recorder{TB: t}
	configtest.Mirror(stray, refConfig{}, append(ref, config.Var{Name: "PRINTFLEET_NOPE", Type: "string"}))
	if len(stray.errs) != 1 || !strings.Contains(stray.errs[0], "PRINTFLEET_NOPE") {
		t.Errorf("a stray variable: %v", stray.errs)
	}
}
