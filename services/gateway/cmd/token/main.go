// Command token mints development JWTs that the gateway accepts in HS256 mode:
//
//	PRINTFLEET_JWT_SECRET=… go run ./services/gateway/cmd/token -sub alice -roles user -ttl 1h
//
// It prints the token on stdout.
package main

import (
	"os"

	"github.com/printfleet/printfleet/services/gateway/internal/tokencmd"
)

func main() { os.Exit(tokencmd.Run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }
