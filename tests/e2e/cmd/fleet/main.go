// Command fleet is `make run`: it builds every binary, starts the whole
// fleet and the sandbox as separate processes, loads the demo catalog and
// price lists, prints where to point a browser or curl, and stops everything
// cleanly on Ctrl-C.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	l := fleet.Local()
	bin := filepath.Join(root, "bin")
	logs := filepath.Join(root, ".run", "logs")
	fmt.Println("building the fleet…")
	if err := fleet.Build(ctx, root, bin, l.Packages()...); err != nil {
		return err
	}
	if err := l.EnsureDatabases(ctx, false); err != nil {
		return err
	}
	if err := l.EnsureVhost(ctx, false); err != nil {
		return err
	}
	f, err := fleet.New(bin, logs, l.Common())
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("\nstopping the fleet…")
		if err := f.Stop(20 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	procs := l.Procs()
	fmt.Println("starting the fleet; the demo catalog and price lists load once catalog is up…")
	if err := f.StartSeeded(ctx, 90*time.Second, procs, l.Seeds()); err != nil {
		return err
	}
	token, err := exec.CommandContext(ctx, filepath.Join(bin, "token"), "-sub", "alice", "-roles", "user", "-ttl", "24h").Output()
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	printWelcome(l, procs, strings.TrimSpace(string(token)), logs)
	<-ctx.Done()
	return nil
}

func printWelcome(l fleet.Layout, procs []fleet.Proc, token, logs string) {
	gw := l.GatewayURL()
	fmt.Printf(`
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
			fmt.Printf("    %-14s http://%s/metrics\n", p.Name, p.Admin)
		}
	}
	fmt.Printf(`
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
