package tokencmd

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
)

const secret = "token-cmd-test-secret-0123456789abcdef"

func TestMintsVerifiableToken(t *testing.T) {
	env := map[string]string{"PRINTFLEET_JWT_SECRET": secret}
	var out, errOut bytes.Buffer
	if code := Run([]string{"-sub", "alice", "-roles", "user,admin", "-ttl", "10m"}, func(k string) string { return env[k] }, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: config.Secret(secret), Issuer: "printfleet-dev", Audience: "printfleet", Leeway: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || !slices.Equal(p.Roles, []string{"user", "admin"}) {
		t.Fatalf("principal %+v", p)
	}
}

func TestRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-sub", "alice"}, map[string]string{}},
		{[]string{"-sub", ""}, map[string]string{"PRINTFLEET_JWT_SECRET": secret}},
		{[]string{"-sub", "alice", "-roles", "root"}, map[string]string{"PRINTFLEET_JWT_SECRET": secret}},
		{[]string{"-sub", "alice"}, map[string]string{"PRINTFLEET_JWT_SECRET": "short"}},
		{[]string{"-bogus"}, map[string]string{"PRINTFLEET_JWT_SECRET": secret}},
	} {
		var out, errOut bytes.Buffer
		if code := Run(c.args, func(k string) string { return c.env[k] }, &out, &errOut); code == 0 || out.Len() != 0 {
			t.Errorf("%v %v: exit %d, out %q", c.args, c.env, code, out.String())
		}
	}
}

// A deployed environment refuses the published development JWT secret; in
// development it mints.
func TestRefusesPublishedSecretOutsideDevelopment(t *testing.T) {
	const published = "dev-jwt-secret-change-me-0123456789"
	for _, c := range []struct {
		env  string
		code int
	}{{"", 0}, {"development", 0}, {"production", 2}, {"staging", 2}} {
		env := map[string]string{"PRINTFLEET_JWT_SECRET": published, "PRINTFLEET_ENV": c.env}
		var out, errOut bytes.Buffer
		code := Run([]string{"-sub", "alice"}, func(k string) string { return env[k] }, &out, &errOut)
		if code != c.code {
			t.Errorf("PRINTFLEET_ENV=%q: exit %d (%s), want %d", c.env, code, errOut.String(), c.code)
		}
		if c.code != 0 && (out.Len() != 0 || !strings.Contains(errOut.String(), "PRINTFLEET_JWT_SECRET holds a published development value")) {
			t.Errorf("PRINTFLEET_ENV=%q: out %q, err %q", c.env, out.String(), errOut.String())
		}
	}
}
