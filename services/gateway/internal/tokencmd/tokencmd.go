// Package tokencmd is the body of cmd/token: it mints a development JWT that
// the gateway accepts in HS256 mode and prints it.
package tokencmd

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
)

// Run parses args (without the program name), reads the secret, issuer and
// audience through getenv, prints the token on stdout and returns the exit
// code: 0, or 2 with the reason on stderr.
func Run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject (user id)")
	roles := fs.String("roles", "user", "comma-separated roles: user, admin, fulfillment, support")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	iss := fs.String("iss", envOr(getenv, "PRINTFLEET_JWT_ISSUER", "printfleet-dev"), "issuer")
	aud := fs.String("aud", envOr(getenv, "PRINTFLEET_JWT_AUDIENCE", "printfleet"), "audience")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	secret := getenv("PRINTFLEET_JWT_SECRET")
	if secret == "" {
		fmt.Fprintln(stderr, "token: PRINTFLEET_JWT_SECRET is not set")
		return 2
	}
	// Outside development a published secret is refused here too, as every
	// process refuses it when it loads its configuration.
	if env := getenv(config.EnvVar); env != "" && config.Deployed(env) && config.Published(secret) {
		fmt.Fprintf(stderr, "token: %s=%s refuses this configuration: PRINTFLEET_JWT_SECRET holds a published development value\n", config.EnvVar, env)
		return 2
	}
	var rs []string
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	tok, err := auth.Mint([]byte(secret), auth.MintOptions{Subject: *sub, Roles: rs, TTL: *ttl, Issuer: *iss, Audience: *aud})
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}
