// Package runtest helps tests run a process's Serve function as its main
// does: on addresses of their own, picked from the ephemeral range.
package runtest

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address that was free a moment ago, for a
// listener the code under test opens itself from its configuration.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
