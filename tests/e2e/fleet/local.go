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
	token, err := exec.CommandContext(ctx, filepath.Join(bin, "token"), "-sub", "alice", "-roles", "user", "-ttl", "24h").Output()
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	Welcome(stdout, l, procs, strings.TrimSpace(string(token)), logs)
	<-ctx.Done()
	return nil
}

// Welcome prints where to point a browser or curl at the running fleet: the
// gateway's URLs, the sandbox, the logs, each process's metrics, and a token
// for alice with the first requests to try.
func Welcome(w io.Writer, l Layout, procs []Proc, token, logs string) {
	gw := l.GatewayURL()
	fmt.Fprintf(w, `
printfleet is running.

  REST API      %[1]s
  API docs      %[1]s/docs        (OpenAPI: %[1]s/openapi.json)
  health        %[1]s/healthz  %[1]s/readyz
  sandbox       payments %[2]s   marketplaces %[3]s
  logs          %[4]s
  metrics
`, gw, l.PaymentURL(), l.MarketplacesURL(), logs)
	for _, p := range procs {
		if p.Admin != "" {
			fmt.Fprintf(w, "    %-14s http://%s/metrics\n", p.Name, p.Admin)
		}
	}
	fmt.Fprintf(w, `
  dev JWT secret  PRINTFLEET_JWT_SECRET=%s
  a token for alice (role user), valid 24h:

export TOKEN=%s

  first requests:

curl -s %s/v1/products | head -c 600; echo
curl -s -H "Authorization: Bearer $TOKEN" %s/v1/orders

Mint other tokens with: make token SUB=bob ROLES=user,admin
Ctrl-C stops everything.
`, l.JWTSecret, token, gw, gw)
}
