package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

type deployedConfig struct {
	Internal config.Secret `env:"INTERNAL_SECRET, required"`
	S3Key    config.Secret `env:"S3_SECRET_KEY, default=printfleet-dev-secret"`
	AMQPURL  string        `env:"AMQP_URL, default=amqp://app:own-password@mq:5672/printfleet"`
	Name     string        `env:"NAME, default=shop"`
	Part     part          `env:", prefix=PART_"`
}

// part has a rule of its own for deployed environments.
type part struct {
	URL string `env:"URL, default=https://auth.example/jwks.json"`
}

func (p part) CheckEnv(env string) error {
	if config.Deployed(env) && !strings.HasPrefix(p.URL, "https://") {
		return errors.New("PRINTFLEET_PART_URL must be https outside development")
	}
	return nil
}

const ownSecret = "0f3c9a51d2b84e67a1c05d9e8b7f6a43"

func load(env map[string]string) (deployedConfig, error) {
	var c deployedConfig
	err := config.LoadFrom(context.Background(), &c, envconfig.MapLookuper(env))
	return c, err
}

// Development, the default, runs on the published values.
func TestDevelopmentTakesPublishedValues(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"", "development"} {
		c, err := load(map[string]string{
			"PRINTFLEET_ENV":             env,
			"PRINTFLEET_INTERNAL_SECRET": "dev-internal-secret-change-me-0123456789",
			"PRINTFLEET_AMQP_URL":        "amqp://guest:guest@127.0.0.1:5672/printfleet",
			"PRINTFLEET_PART_URL":        "http://127.0.0.1:1/jwks.json",
		})
		if err != nil {
			t.Fatalf("PRINTFLEET_ENV=%q: %v", env, err)
		}
		if c.S3Key.Reveal() != "printfleet-dev-secret" {
			t.Fatalf("S3 key = %q", c.S3Key.Reveal())
		}
	}
}

// A production configuration of its own loads.
func TestProductionTakesOwnValues(t *testing.T) {
	t.Parallel()
	if _, err := load(map[string]string{
		"PRINTFLEET_ENV":             "production",
		"PRINTFLEET_INTERNAL_SECRET": ownSecret,
		"PRINTFLEET_S3_SECRET_KEY":   "b1e2" + ownSecret,
	}); err != nil {
		t.Fatal(err)
	}
}

// Each published value, wherever it sits, stops a deployed environment; the
// error names the variable and never prints the value.
func TestDeployedRefusesPublishedValues(t *testing.T) {
	t.Parallel()
	own := map[string]string{"PRINTFLEET_INTERNAL_SECRET": ownSecret, "PRINTFLEET_S3_SECRET_KEY": "b1e2" + ownSecret}
	cases := []struct {
		name, env, variable, value string
	}{
		{"internal secret of scripts/env.sh", "production", "PRINTFLEET_INTERNAL_SECRET", "dev-internal-secret-change-me-0123456789"},
		{"JWT secret as the internal secret", "production", "PRINTFLEET_INTERNAL_SECRET", "dev-jwt-secret-change-me-0123456789"},
		{"any change-me value", "production", "PRINTFLEET_NAME", "please-CHANGE-ME-now"},
		{"credentials key of the fleet layout", "production", "PRINTFLEET_INTERNAL_SECRET", "ZGV2LWNyZWRlbnRpYWxzLWtleS0zMi1ieXRlcyEhISE="},
		{"sandbox payment key", "production", "PRINTFLEET_INTERNAL_SECRET", "sk_test_printfleet_dev"},
		{"S3 key left at its default", "production", "PRINTFLEET_S3_SECRET_KEY", ""},
		{"RabbitMQ's guest user", "production", "PRINTFLEET_AMQP_URL", "amqp://guest:guest@mq:5672/printfleet"},
		{"a staging environment too", "staging", "PRINTFLEET_INTERNAL_SECRET", "dev-internal-secret-change-me-0123456789"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"PRINTFLEET_ENV": tc.env}
			for k, v := range own {
				env[k] = v
			}
			if tc.value == "" {
				delete(env, tc.variable)
			} else {
				env[tc.variable] = tc.value
			}
			_, err := load(env)
			if err == nil {
				t.Fatalf("%s=%q loaded in %s", tc.variable, tc.value, tc.env)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.variable) || !strings.Contains(msg, "PRINTFLEET_ENV="+tc.env) {
				t.Errorf("error does not name %s and the environment: %s", tc.variable, msg)
			}
			if tc.value != "" && strings.Contains(msg, tc.value) {
				t.Errorf("error prints the value: %s", msg)
			}
		})
	}
}

// A part's own rule (EnvChecker) applies outside development only.
func TestDeployedRunsPartRules(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PRINTFLEET_INTERNAL_SECRET": ownSecret, "PRINTFLEET_S3_SECRET_KEY": "b1e2" + ownSecret,
		"PRINTFLEET_PART_URL": "http://auth.example/jwks.json"}
	if _, err := load(env); err != nil {
		t.Fatalf("development: %v", err)
	}
	env["PRINTFLEET_ENV"] = "production"
	_, err := load(env)
	if err == nil || !strings.Contains(err.Error(), "PRINTFLEET_PART_URL must be https") {
		t.Fatalf("err = %v, want the part's rule", err)
	}
}

func TestEnvNameIsChecked(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"Production", "prod uction", "a=b"} {
		_, err := load(map[string]string{"PRINTFLEET_ENV": env, "PRINTFLEET_INTERNAL_SECRET": ownSecret})
		if err == nil || !strings.Contains(err.Error(), "PRINTFLEET_ENV") {
			t.Errorf("PRINTFLEET_ENV=%q: err = %v", env, err)
		}
	}
}

// Every secret value this repository prints is one config.Published knows:
// the development defaults of scripts/env.sh, the end-to-end fleet's layout,
// the development install of docs/deploy.md and the configuration reference.
func TestPublishedCoversRepository(t *testing.T) {
	t.Parallel()
	root := configtest.Root(t)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	found := map[string]string{} // value → where
	add := func(where string, re *regexp.Regexp, text string) {
		n := 0
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			found[m[len(m)-1]] = where
			n++
		}
		if n == 0 {
			t.Errorf("no secret found in %s: the pattern is stale", where)
		}
	}
	add("scripts/env.sh", regexp.MustCompile(`\$\{PRINTFLEET_\w*(?:SECRET|PASSWORD)\w*:=([^}]+)\}`), read("scripts/env.sh"))
	add("scripts/env.sh AMQP URL", regexp.MustCompile(`PRINTFLEET_AMQP_URL:=amqp://([^@]+@)`), read("scripts/env.sh"))
	add("tests/e2e/fleet/layout.go", regexp.MustCompile(`(?:Secret|Key):\s+"([^"]+)"`), read("tests/e2e/fleet/layout.go"))
	add("docs/deploy.md", regexp.MustCompile(`--from-literal=(?:[a-z-]*secret|[a-z-]*api-key|credentials-key)=([^"$\s\\][^\s\\]*)`), read("docs/deploy.md"))
	pages, err := filepath.Glob(filepath.Join(root, "docs", "configuration", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	secretDefault := regexp.MustCompile("(?m)^\\| `PRINTFLEET_\\w+` \\| [^|]+ \\| `([^`]+)`[^|]* \\| yes \\|")
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range secretDefault.FindAllStringSubmatch(string(b), -1) {
			// A database URL without a password (trust auth) is no secret.
			if !strings.HasPrefix(m[1], "postgres://postgres@") {
				found[m[1]] = filepath.Base(p)
			}
		}
	}
	for v, where := range found {
		if !config.Published(v) {
			t.Errorf("%s publishes a secret config.Published does not refuse", where)
		}
	}
	t.Logf("%d published values checked", len(found))
}
