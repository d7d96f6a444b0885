// Package config loads a process's configuration from environment variables
// into a struct with `env` tags (github.com/sethvargo/go-envconfig), and logs
// it once with secrets masked.
//
// Every variable carries the PRINTFLEET_ prefix. Nested structs add their own
// prefix, so shared parts compose: a service's Config embeds
// `Postgres postgres.Config `env:", prefix=PG_"“` and gets PRINTFLEET_PG_URL.
package config

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Prefix is prepended to every variable name.
const Prefix = "PRINTFLEET_"

// Secret is a string that never prints: fmt, JSON and slog all see "***".
type Secret string

// Reveal returns the secret's value; call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string { return mask(string(s)) }

// GoString masks %#v too.
func (s Secret) GoString() string { return mask(string(s)) }

// MarshalJSON masks the secret in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(mask(string(s))) }

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(mask(string(s))) }

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// Defaults are one process's own defaults for shared variables, named
// without the PRINTFLEET_ prefix: {"PG_URL": "postgres://…/orders"}. A value
// set in the environment wins; a default here wins over the struct tag's.
type Defaults map[string]string

// Apply reports d in a configuration reference: each variable d names gets
// d's value as its default.
func (d Defaults) Apply(vars []Var) []Var {
	out := make([]Var, len(vars))
	for i, v := range vars {
		if def, ok := d[strings.TrimPrefix(v.Name, Prefix)]; ok {
			v.Default = def
		}
		out[i] = v
	}
	return out
}

type defaultsLookuper struct {
	l envconfig.Lookuper
	d Defaults
}

func (dl defaultsLookuper) Lookup(key string) (string, bool) {
	if v, ok := dl.l.Lookup(key); ok {
		return v, true
	}
	v, ok := dl.d[strings.TrimPrefix(key, Prefix)]
	return v, ok
}

// Load fills cfg (a pointer to a struct) from the environment, with the
// process's own defaults, if any.
func Load(ctx context.Context, cfg any, defaults ...Defaults) error {
	return LoadFrom(ctx, cfg, envconfig.OsLookuper(), defaults...)
}

// LoadFrom fills cfg from the given lookuper (tests use envconfig.MapLookuper).
// Outside development (PRINTFLEET_ENV) it then refuses a configuration that
// CheckEnv refuses, so that every process's start goes through that check.
func LoadFrom(ctx context.Context, cfg any, l envconfig.Lookuper, defaults ...Defaults) error {
	env, err := environment(l)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	for _, d := range defaults {
		l = defaultsLookuper{l: l, d: d}
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target:   cfg,
		Lookuper: envconfig.PrefixLookuper(Prefix, l),
	}); err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	return CheckEnv(env, cfg)
}

// Masked renders cfg as JSON with every Secret masked, for one log line at
// start.
func Masked(cfg any) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Sprintf("unprintable config (%s)", reflect.TypeOf(cfg))
	}
	return string(b)
}
