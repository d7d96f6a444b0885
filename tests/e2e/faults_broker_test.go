package e2e

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func testBrokerAndCacheKills(t *testing.T, fx *faultFleet) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("PRINTFLEET_E2E_FAULTS_ORDERS")); err == nil && v > 0 {
		n = v
	}
	const conc, stores, readers = 64, 20, 4
	// The orders are paced over span so that the kills strike while they
	// flow; unpaced, this machine places them faster than one broker
	// restart takes.
	const span = 75 * time.Second
	rate := float64(n) / span.Seconds()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	st := &loadStats{}
	var progress atomic.Int64
	shipCh := make(chan placed, stores)
	shipped := fx.shipper(ctx, shipCh)
	rs := &readStats{}
	stopReads := make(chan struct{})
	readersWG := fx.readers(ctx, readers, st, rs, stopReads)
	loadDone := make(chan struct{})
	began := time.Now()
	var placedIn time.Duration
	go func() {
		fx.load(ctx, st, loadOpts{n: n, conc: conc, stores: stores, rate: rate, progress: &progress, shipped: shipCh})
		placedIn = time.Since(began)
		close(shipCh)
		close(loadDone)
	}()

	down := 5 * time.Second
	faults := []*outage{
		{at: 0.10, name: "rabbitmq", kill: fx.mq.Kill, start: fx.mq.Start, down: down},
		{at: 0.40, name: "redis", kill: fx.redis.Kill, start: fx.redis.Start, down: down},
		{at: 0.70, name: "rabbitmq", kill: fx.mq.Kill, start: fx.mq.Start, down: down},
	}
	var faultErr error
	for _, f := range faults {
		reached := waitProgress(ctx, &progress, int64(f.at*float64(n)), loadDone)
		select {
		case <-loadDone:
			f.late = true
		default:
			f.late = !reached
		}
		f.progressAt = progress.Load()
		if f.name == "redis" {
			rs.window.Store(true)
		}
		if faultErr = f.cycle(ctx); faultErr != nil {
			break
		}
		if f.name == "redis" {
			time.Sleep(2 * time.Second) // reads right after the restart still count as the outage
			rs.window.Store(false)
		}
	}
	<-loadDone
	close(stopReads)
	readersWG.Wait()
	shippedOrders := shipped()
	if faultErr != nil {
		t.Fatal(faultErr)
	}
	orders := st.snapshot()
	lastRestart := faults[len(faults)-1].restartedAt
	loadEnd := began.Add(placedIn)

	budget := 60*time.Second - time.Since(lastRestart)
	s, _, ok := fx.settle(ctx, orders, max(budget, 0), fx.pushesRecorded(ctx, shippedOrders))
	drainedAfter := time.Since(lastRestart)
	if !ok {
		// Wait a little longer to tell slow from stuck, still failing the budget.
		s, _, _ = fx.settle(ctx, orders, 45*time.Second, fx.pushesRecorded(ctx, shippedOrders))
	}
	e := fx.effectsOf(t, orders, s)

	t.Logf("BROKER AND CACHE KILLS — N=%d orders started at %.0f/s, ≤ %d in flight (%d from an Etsy store, %d of them shipped during the run); placing took %v",
		n, rate, conc, stores, len(shippedOrders), placedIn.Round(time.Millisecond))
	for _, f := range faults {
		note := ""
		if f.late {
			note = " — the load had already finished"
		}
		t.Logf("  SIGKILL %-8s at %4d/%d requests, kept down %v, boot %v, back %v after the kill%s",
			f.name, f.progressAt, n, f.down, f.boot.Round(time.Millisecond), f.restartedAt.Sub(f.killedAt).Round(time.Millisecond), note)
	}
	t.Logf("  create answers: %s; acknowledged %d, refused %d, gave up %d", st, len(orders), len(st.rejected), st.gaveUp)
	t.Logf("  end state: %s", s)
	if ok {
		t.Logf("  drained %v after the last restart (budget 60s; the load ended %v after it)",
			drainedAfter.Round(time.Millisecond), loadEnd.Sub(lastRestart).Round(time.Millisecond))
	} else {
		t.Logf("  NOT drained within 60s of the last restart (the load ended %v after it); state %v later: %s",
			loadEnd.Sub(lastRestart).Round(time.Millisecond), time.Since(lastRestart).Round(time.Second), s)
	}
	t.Logf("  effects: %s", e)
	wTotal, w5xx, wTransport := countsOf(rs.inWindow)
	oTotal, o5xx, oTransport := countsOf(rs.outside)
	t.Logf("  GET /v1/orders/{id} while Redis was down (kill → restart + 2s): %d reads, %d 5xx, %d transport errors; the rest of the run: %d reads, %d 5xx, %d transport errors",
		wTotal, w5xx, wTransport, oTotal, o5xx, oTransport)

	if len(st.rejected) != 0 || st.gaveUp != 0 {
		t.Errorf("creates not acknowledged: %d refused %v, %d gave up after 90 s of retries", len(st.rejected), head(st.rejected, 3), st.gaveUp)
	}
	for _, f := range faults {
		if f.late {
			t.Errorf("%s was killed after the load had finished", f.name)
		}
	}
	assertNoLossNoDuplicates(t, "broker and cache kills", s, e)
	if !ok {
		t.Errorf("not drained within 60 s of the last restart")
	}
	if wTotal == 0 {
		t.Errorf("no order was read while Redis was down: the scenario proved nothing about reads")
	}
	if w5xx != 0 || wTransport != 0 {
		t.Errorf("reads failed while Redis was down: %d 5xx, %d transport errors: %v", w5xx, wTransport, rs.windowErrors)
	}
	if len(shippedOrders) == 0 {
		t.Errorf("no store order was shipped during the run")
	}
}
