// Command token mints development JWTs that the gateway accepts in HS256 mode:
//
//	PRINTFLEET_JWT_SECRET=… go run ./services/gateway/cmd/token -sub alice -roles user -ttl 1h
//
// It prints the token on stdout.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/printfleet/printfleet/services/gateway/internal/auth"
)

func main() {
	sub := flag.String("sub", "", "subject (user id)")
	roles := flag.String("roles", "user", "comma-separated roles: user, admin, fulfillment")
	ttl := flag.Duration("ttl", time.Hour, "lifetime")
	iss := flag.String("iss", envOr("PRINTFLEET_JWT_ISSUER", "printfleet-dev"), "issuer")
	aud := flag.String("aud", envOr("PRINTFLEET_JWT_AUDIENCE", "printfleet"), "audience")
	flag.Parse()
	secret := os.Getenv("PRINTFLEET_JWT_SECRET")
	if secret == "" {
		fail("PRINTFLEET_JWT_SECRET is not set")
	}
	var rs []string
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	tok, err := auth.Mint([]byte(secret), auth.MintOptions{Subject: *sub, Roles: rs, TTL: *ttl, Issuer: *iss, Audience: *aud})
	if err != nil {
		fail(err.Error())
	}
	fmt.Println(tok)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "token:", msg)
	os.Exit(2)
}
