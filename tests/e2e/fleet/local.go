package fleet

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RunLocal is `make run`: from the repository root (the working directory)
// it builds every binary into bin/, starts the Local fleet and the sandbox
// with logs under .run/logs, loads the demo catalog and price lists, prints
// the Welcome and keeps everything up until SIGINT or SIGTERM, then stops it.
func RunLocal(stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	l := Local()
	bin := filepath.Join(root, "bin")
	logs := filepath.Join(root, ".run", "logs")
	fmt.Fprintln(stdout, "building the fleet…")
	if err := Build(ctx, root, bin, l.Packages()...); err != nil {
		return err
	}
	if err := l.EnsureDatabases(ctx, false); err != nil {
		return err
	}
	if err := l.EnsureVhost(ctx, false); err != nil {
		return err
	}
	f, err := New(bin, logs, l.Common())
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "\nstopping the fleet…")
		if err := f.Stop(20 * time.Second); err != nil {
			fmt.Fprintln(stderr, err)
		}
	}()
	procs := l.Procs()
	fmt.Fprintln(stdout, "starting the fleet; the demo catalog and price lists load once catalog is up…")
	if err := f.StartSeeded(ctx, 90*time.Second, procs, l.Seeds()); err != nil {
		return err
	}
	var toks Tokens
	for _, t := range []struct {
		dst       *string
		sub, role string
	}{{&toks.User, "alice", "user"}, {&toks.Admin, "ops-admin", "admin"}, {&toks.Support, "ops-support", "support"}} {
		tok, err := exec.CommandContext(ctx, filepath.Join(bin, "token"), "-sub", t.sub, "-roles", t.role, "-ttl", "24h").Output()
		if err != nil {
			return fmt.Errorf("mint token: %w", err)
		}
		*t.dst = strings.TrimSpace(string(tok))
	}
	Welcome(stdout, l, procs, toks, logs)
	<-ctx.Done()
	return nil
}

// Tokens are the development tokens make run prints: alice's (user), and
// the operator console's admin and support sign-ins.
type Tokens struct {
	User, Admin, Support string
}

// Welcome prints where to point a browser or curl at the running fleet: the
// gateway's URLs, the operator console with its tokens, the sandbox, the
// logs, each process's metrics, and a token for alice with the first
// requests to try.
func Welcome(w io.Writer, l Layout, procs []Proc, toks Tokens, logs string) {
	gw := l.GatewayURL()
	fmt.Fprintf(w, `
printfleet is running.

  REST API      %[1]s
  API docs      %[1]s/docs        (OpenAPI: %[1]s/openapi.json)
  console       %[1]s/console/    (sign in with a token below)
  health        %[1]s/healthz  %[1]s/readyz
  sandbox       payments %[2]s   marketplaces %[3]s   webhook receivers %[5]s
  logs          %[4]s
  metrics
`, gw, l.PaymentURL(), l.MarketplacesURL(), logs, l.ReceiverURL())
	for _, p := range procs {
		if p.Admin != "" {
			fmt.Fprintf(w, "    %-14s http://%s/metrics\n", p.Name, p.Admin)
		}
	}
	fmt.Fprintf(w, `
  operator console sign-in tokens, valid 24h (paste one at %[1]s/console/login):
    admin (acts on dead letters)  %[2]s
    support (reads only)          %[3]s
`, gw, toks.Admin, toks.Support)
	fmt.Fprintf(w, `
  dev JWT secret  PRINTFLEET_JWT_SECRET=%s
  a token for alice (role user), valid 24h:

export TOKEN=%s

  first requests:

curl -s %s/v1/products | head -c 600; echo
curl -s -H "Authorization: Bearer $TOKEN" %s/v1/orders

  webhooks: a receiver in the sandbox, then a subscription to it (the secret
  is shown once); its deliveries appear at %s/receivers/$RECEIVER/deliveries

RECEIVER=$(curl -s -X POST %s/receivers | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "{\"url\":\"%s/r/$RECEIVER\",\"event_types\":[\"*\"]}" %s/v1/webhooks

Mint other tokens with: make token SUB=bob ROLES=user,admin (roles: user, admin, fulfillment, support)
Ctrl-C stops everything.
`, l.JWTSecret, toks.User, gw, gw, l.ReceiverURL(), l.ReceiverURL(), l.ReceiverURL(), gw)
}
