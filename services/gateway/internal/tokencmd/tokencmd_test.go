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
