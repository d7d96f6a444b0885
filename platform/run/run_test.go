package run_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/platform/run"
)

// TestNotReadyUntilServing: a process whose checks all pass (here: none is
// registered yet) answers 503 "starting" on /readyz until it says it
// serves, then 200.
func TestNotReadyUntilServing(t *testing.T) {
	t.Setenv("PRINTFLEET_ADMIN_ADDR", "127.0.0.1:0")
	t.Setenv("PRINTFLEET_LOG_LEVEL", "error")
	readyz := func(p *run.Process) (int, string) {
		resp, err := http.Get("http://" + p.AdminAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	err := run.Run(context.Background(), "runtest", func(ctx context.Context, p *run.Process) error {
		if code, body := readyz(p); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
			t.Errorf("before Serving: %d %s", code, body)
		}
		p.Serving()
		if code, body := readyz(p); code != http.StatusOK {
			t.Errorf("after Serving: %d %s", code, body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
