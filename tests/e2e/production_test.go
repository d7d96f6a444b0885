package e2e

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// TestProductionRefusesPublishedSecrets starts every long-running binary the
// way `make run` does (the published development secrets of the local
// layout) but with PRINTFLEET_ENV=production: each must exit non-zero at
// start, naming what it refused. Then the gateway with secrets of its own
// but a JWK Set over plain http, and with none at all.
func TestProductionRefusesPublishedSecrets(t *testing.T) {
	e := need(t)

	// Nothing should listen or connect; should a process start anyway, it
	// finds no fleet's ports, databases or vhost (and fails the test).
	l := fleet.Local()
	l.Offset = 3000
	l.DBPrefix = "e2e_refused_"
	l.Vhost = "printfleet_e2e_refused"
	f, err := fleet.New(e.bin, t.TempDir(), l.Common())
	if err != nil {
		t.Fatal(err)
	}
	refused := func(p fleet.Proc, env map[string]string, want ...string) {
		t.Helper()
		p.Env = map[string]string{}
		for k, v := range env {
			p.Env[k] = v
		}
		p.Env["PRINTFLEET_ENV"] = "production"
		// Refusing must come before anything listens or connects.
		p.Env["PRINTFLEET_ADMIN_ADDR"] = "127.0.0.1:0"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		err := f.Run(ctx, p)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%s started in production (err %v)", p.Name, err)
			return
		}
		msg := err.Error()
		for _, w := range append([]string{"PRINTFLEET_ENV=production refuses this configuration"}, want...) {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: exit %d without %q in its log:\n%s", p.Name, exit.ExitCode(), w, msg)
			}
		}
		var named []string
		for _, v := range variable.FindAllString(msg, -1) {
			if v != "PRINTFLEET_ENV" && !slices.Contains(named, v) {
				named = append(named, v)
			}
		}
		t.Logf("%s: exit %d after %v, refused %s", p.Name, exit.ExitCode(), time.Since(start).Round(time.Millisecond), strings.Join(named, " "))
	}

	for _, p := range l.Procs() {
		if p.Name == "sandbox" { // the development stand-in takes no secret
			continue
		}
		refused(p, p.Env, "holds a published development value")
	}

	// Values of its own; the development JWT secret the shell may export
	// (scripts/env.sh) is cleared.
	own := map[string]string{
		"PRINTFLEET_INTERNAL_SECRET": "e2e-production-internal-0f3c9a51d2b84e67a1c0",
		"PRINTFLEET_JWT_SECRET":      "",
		"PRINTFLEET_HTTP_ADDR":       "127.0.0.1:0",
	}
	gw := l.Gateway("gateway", 8080, 9200, "")
	gw.Name, gw.Binary = "gateway-jwks-http", "gateway"
	refused(gw, mergeEnv(own, map[string]string{"PRINTFLEET_JWKS_URL": "http://auth.example/jwks.json"}),
		"PRINTFLEET_JWKS_URL must be an https URL")
	gw.Name = "gateway-hs256"
	refused(gw, mergeEnv(own, map[string]string{"PRINTFLEET_JWT_SECRET": "e2e-production-jwt-8d1e0b7c3a2f4e5d9c6b"}),
		"PRINTFLEET_JWKS_URL is required in production")
}

var variable = regexp.MustCompile(`PRINTFLEET_[A-Z0-9_]+`)

func mergeEnv(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
