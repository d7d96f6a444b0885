package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// readyz is the admin readiness answer of a process (0 when unreachable).
func (fx *faultFleet) readyz(ctx context.Context, admin string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func testPostgresRestart(t *testing.T, fx *faultFleet) {
	const pgRate = 40 // orders/s
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := &loadStats{}
	stopLoad := fx.loadUntilStopped(ctx, st, pgRate)
	time.Sleep(4 * time.Second)

	var admins []fleet.Proc
	for _, p := range fx.layout.Procs() {
		if p.Admin != "" {
			admins = append(admins, p)
		}
	}
	ackBefore := len(st.snapshot())
	o := &outage{name: "postgres", kill: fx.pg.Kill, start: fx.pg.Start, down: 4 * time.Second}
	downReady := map[string]int{}
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() { // what readiness says while PostgreSQL is down
		defer sampled.Done()
		time.Sleep(2500 * time.Millisecond)
		for _, p := range admins {
			downReady[p.Name] = fx.readyz(ctx, p.Admin)
		}
	}()
	if err := o.cycle(ctx); err != nil {
		stopLoad()
		t.Fatal(err)
	}
	sampled.Wait()
	ackDuringOutage := len(st.snapshot()) - ackBefore

	recovered := map[string]time.Duration{}
	deadline := time.Now().Add(60 * time.Second)
	for len(recovered) < len(admins) && time.Now().Before(deadline) {
		for _, p := range admins {
			if _, ok := recovered[p.Name]; !ok && fx.readyz(ctx, p.Admin) == http.StatusOK {
				recovered[p.Name] = time.Since(o.restartedAt)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // orders keep coming after the recovery
	stopLoad()
	orders := st.snapshot()
	s, took, ok := fx.settle(ctx, orders, 90*time.Second, nil)
	e := fx.effectsOf(t, orders, s)

	t.Logf("POSTGRESQL RESTART — %d orders acknowledged (started at %d/s, ≤ 64 in flight); postmaster SIGKILLed after %d, kept down %v, crash recovery + boot %v",
		len(orders), pgRate, ackBefore, o.down, o.boot.Round(time.Millisecond))
	t.Logf("  acknowledged between the kill and the restart (requests that committed just before it): %d", ackDuringOutage)
	for _, p := range admins {
		if d, ok := recovered[p.Name]; ok {
			t.Logf("  %-13s /readyz %d while down, 200 again %v after PostgreSQL was back", p.Name, downReady[p.Name], d.Round(time.Millisecond))
		} else {
			t.Logf("  %-13s /readyz %d while down, NOT ready 60s after PostgreSQL was back", p.Name, downReady[p.Name])
		}
	}
	t.Logf("  create answers: %s; refused %d, gave up %d", st, len(st.rejected), st.gaveUp)
	t.Logf("  end state after %v: %s", took.Round(time.Millisecond), s)
	t.Logf("  effects: %s", e)
	for _, p := range admins {
		if _, ok := recovered[p.Name]; !ok {
			t.Errorf("%s /readyz did not recover within 60 s", p.Name)
		}
	}
	if !ok {
		t.Errorf("not settled within 90 s: %s", s)
	}
	if len(st.rejected) != 0 || st.gaveUp != 0 {
		t.Errorf("creates not acknowledged: %d refused %v, %d gave up", len(st.rejected), head(st.rejected, 3), st.gaveUp)
	}
	assertNoLossNoDuplicates(t, "postgres restart", s, e)
}
