package app_test

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// TestRetriesThenSuccess: two 500s then a 200 on a compressed schedule; every
// attempt carries the same delivery and event ids and the same bytes, signed
// under the endpoint's secret, with the attempt number.
func TestRetriesThenSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newReceiver(t, func(n int64) int {
		if n <= 2 {
			return 500
		}
		return 200
	})
	ep, sec := e.create(t, "user-a", r.URL)
	e.run(t)
	evID := e.notice(t, "user-a", "order.paid")
	waitFor(t, 10*time.Second, "success", func() bool {
		ds := e.deliveries(t, "user-a", ep.ID)
		return len(ds) == 1 && ds[0].Status == domain.DeliverySucceeded
	})
	got := r.received()
	if len(got) != 3 {
		t.Fatalf("received %d requests, want 3", len(got))
	}
	d := e.deliveries(t, "user-a", ep.ID)[0]
	if d.Attempts != 3 || d.ResponseStatus != 200 || d.EventID != evID || d.DeliveredAt.IsZero() {
		t.Fatalf("delivery %+v", d)
	}
	for i, g := range got {
		h := g.Headers
		if h.Get("Printfleet-Delivery-Attempt") != strconv.Itoa(i+1) || h.Get("Printfleet-Delivery-Id") != d.ID ||
			h.Get("Printfleet-Event-Id") != evID || h.Get("Printfleet-Event-Type") != "order.paid" ||
			h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "printfleet-webhooks/1" {
			t.Fatalf("attempt %d headers %v", i+1, h)
		}
		if !bytes.Equal(g.Body, got[0].Body) {
			t.Fatalf("attempt %d sent other bytes", i+1)
		}
		if err := verify(h.Get("Printfleet-Signature"), g.Body, sec); err != nil {
			t.Fatalf("attempt %d signature: %v", i+1, err)
		}
	}
	var logged []int
	rows, err := e.pool.Query(context.Background(), `SELECT response_status FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt`, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int
		_ = rows.Scan(&s)
		logged = append(logged, s)
	}
	rows.Close()
	if len(logged) != 3 || logged[0] != 500 || logged[2] != 200 {
		t.Fatalf("attempts log %v", logged)
	}
	w, err := e.svc.GetWebhook(context.Background(), user("user-a"), ep.ID)
	if err != nil || !w.FailingSince.IsZero() || w.Status != domain.EndpointActive {
		t.Fatalf("endpoint after success: %+v %v", w, err)
	}
}

// TestScheduleExhausted: an endpoint that always fails gets 1+len(schedule)
// attempts, then the delivery fails and the endpoint is marked failing.
func TestScheduleExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newReceiver(t, func(int64) int { return 302 })
	ep, _ := e.create(t, "user-a", r.URL)
	e.run(t)
	e.notice(t, "user-a", "order.paid")
	waitFor(t, 10*time.Second, "failure", func() bool {
		ds := e.deliveries(t, "user-a", ep.ID)
		return len(ds) == 1 && ds[0].Status == domain.DeliveryFailed
	})
	if n := len(r.received()); n != 4 {
		t.Fatalf("received %d, want 4", n)
	}
	w, _ := e.svc.GetWebhook(context.Background(), user("user-a"), ep.ID)
	if w.FailingSince.IsZero() || w.Status != domain.EndpointActive {
		t.Fatalf("endpoint %+v", w)
	}
}

// TestGoneDisables: a 410 fails the delivery and disables the endpoint, and
// its other pending deliveries fail with it.
func TestGoneDisables(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *app.Options) { o.EndpointConcurrency = 1 })
	r := newReceiver(t, func(int64) int { return 410 })
	ep, _ := e.create(t, "user-a", r.URL)
	e.notice(t, "user-a", "order.paid")
	e.notice(t, "user-a", "order.shipped")
	e.run(t)
	waitFor(t, 10*time.Second, "disabled", func() bool {
		w, _ := e.svc.GetWebhook(context.Background(), user("user-a"), ep.ID)
		return w.Status == domain.EndpointDisabled
	})
	w, _ := e.svc.GetWebhook(context.Background(), user("user-a"), ep.ID)
	if w.DisabledReason != domain.ReasonGone {
		t.Fatalf("reason %q", w.DisabledReason)
	}
	for _, d := range e.deliveries(t, "user-a", ep.ID) {
		if d.Status != domain.DeliveryFailed {
			t.Fatalf("delivery %+v", d)
		}
	}
	if n := len(r.received()); n != 1 {
		t.Fatalf("received %d, want 1", n)
	}
	// A disabled endpoint gets no new deliveries; enabling it brings it back.
	e.notice(t, "user-a", "order.paid")
	if n := len(e.deliveries(t, "user-a", ep.ID)); n != 2 {
		t.Fatalf("deliveries %d after a notice to a disabled endpoint", n)
	}
	if w, err := e.svc.EnableWebhook(context.Background(), user("user-a"), ep.ID); err != nil || w.Status != domain.EndpointActive || w.DisabledReason != "" {
		t.Fatalf("enable: %+v %v", w, err)
	}
}

// TestDisableAfter: an endpoint failing for longer than DisableAfter is
// disabled and its pending deliveries fail.
func TestDisableAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *app.Options) {
		o.DisableAfter = 150 * time.Millisecond
		o.Schedule = domain.Schedule{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, time.Hour}
	})
	r := newReceiver(t, func(int64) int { return 503 })
	ep, _ := e.create(t, "user-a", r.URL)
	e.run(t)
	e.notice(t, "user-a", "order.paid")
	waitFor(t, 10*time.Second, "disabled", func() bool {
		w, _ := e.svc.GetWebhook(context.Background(), user("user-a"), ep.ID)
		return w.Status == domain.EndpointDisabled
	})
	w, _ := e.svc.GetWebhook(context.Background(), user("user-a"), ep.ID)
	d := e.deliveries(t, "user-a", ep.ID)[0]
	if w.DisabledReason != domain.ReasonFailing || d.Status != domain.DeliveryFailed || d.Attempts != 2 {
		t.Fatalf("endpoint %+v delivery %+v", w, d)
	}
}

// TestSlowEndpointDoesNotDelayHealthy: an endpoint answering in 2 s with a
// backlog holds its own slots only; a healthy endpoint's deliveries go out
// at once.
func TestSlowEndpointDoesNotDelayHealthy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *app.Options) { o.EndpointConcurrency = 2; o.Concurrency = 8 })
	slow := newReceiver(t, nil)
	slow.delay = 2 * time.Second
	fast := newReceiver(t, nil)
	e.create(t, "slow-owner", slow.URL)
	e.create(t, "fast-owner", fast.URL)
	e.run(t)
	for range 30 {
		e.notice(t, "slow-owner", "order.paid")
	}
	time.Sleep(200 * time.Millisecond) // the slow endpoint's slots are taken
	var sent []time.Time
	for range 10 {
		sent = append(sent, time.Now())
		e.notice(t, "fast-owner", "order.paid")
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "healthy deliveries", func() bool { return len(fast.received()) == 10 })
	got := fast.received()
	sort.Slice(got, func(i, j int) bool { return got[i].At.Before(got[j].At) })
	var worst time.Duration
	for i, g := range got {
		lat := g.At.Sub(sent[i])
		t.Logf("healthy delivery %d: %v after its event", i+1, lat.Round(time.Millisecond))
		worst = max(worst, lat)
	}
	if worst > 500*time.Millisecond {
		t.Fatalf("a healthy delivery waited %v behind the slow endpoint", worst)
	}
	if s := len(slow.received()); s > 4 {
		t.Fatalf("slow endpoint got %d concurrent deliveries within 2 s, want at most 2 per 2 s", s)
	}
}

// TestLeaseExpiryResends: a process that claimed a delivery and died (claim,
// then nothing) leaves it leased; after the lease another claim sends it,
// with the same delivery and event ids, as attempt 2.
func TestLeaseExpiryResends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newReceiver(t, nil)
	ep, _ := e.create(t, "user-a", r.URL)
	evID := e.notice(t, "user-a", "order.paid")
	lease := 700 * time.Millisecond
	claimed, err := e.store.Claim(context.Background(), app.ClaimRequest{Now: time.Now(), Lease: lease, Limit: 10, PerEndpoint: 4})
	if err != nil || len(claimed) != 1 || claimed[0].Attempt != 1 {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	killedAt := time.Now()
	e.run(t) // the next replica
	waitFor(t, 10*time.Second, "resend", func() bool { return len(r.received()) == 1 })
	g := r.received()[0]
	if wait := g.At.Sub(killedAt); wait < lease-50*time.Millisecond {
		t.Fatalf("sent again after %v, before the lease of %v expired", wait, lease)
	}
	if g.Headers.Get("Printfleet-Delivery-Id") != claimed[0].DeliveryID || g.Headers.Get("Printfleet-Event-Id") != evID ||
		g.Headers.Get("Printfleet-Delivery-Attempt") != "2" {
		t.Fatalf("headers %v", g.Headers)
	}
	waitFor(t, 5*time.Second, "recorded", func() bool {
		return e.deliveries(t, "user-a", ep.ID)[0].Status == domain.DeliverySucceeded
	})
	// The dead process's late result (attempt 1) is not recorded over it.
	disabled, err := e.store.RecordAttempt(context.Background(), app.Attempt{
		DeliveryID: claimed[0].DeliveryID, EndpointID: ep.ID, Attempt: 1, At: time.Now(), Status: domain.DeliveryFailed,
	})
	if err != nil || disabled {
		t.Fatal(err)
	}
	if d := e.deliveries(t, "user-a", ep.ID)[0]; d.Status != domain.DeliverySucceeded || d.Attempts != 2 {
		t.Fatalf("delivery %+v", d)
	}
}

// TestRedeliver: a delivered (or failed) delivery goes back to pending and
// is sent again as the next attempt of the same delivery.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newReceiver(t, nil)
	ep, _ := e.create(t, "user-a", r.URL)
	e.run(t)
	e.notice(t, "user-a", "order.paid")
	waitFor(t, 5*time.Second, "first", func() bool {
		ds := e.deliveries(t, "user-a", ep.ID)
		return ds[0].Status == domain.DeliverySucceeded
	})
	d0 := e.deliveries(t, "user-a", ep.ID)[0]
	if _, err := e.svc.Redeliver(context.Background(), user("user-b"), ep.ID, d0.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("another owner's redeliver: %v", err)
	}
	d, err := e.svc.Redeliver(context.Background(), user("user-a"), ep.ID, d0.ID)
	if err != nil || d.Status != domain.DeliveryPending || d.ID != d0.ID {
		t.Fatalf("redeliver: %+v %v", d, err)
	}
	waitFor(t, 5*time.Second, "second", func() bool { return len(r.received()) == 2 })
	g := r.received()[1]
	if g.Headers.Get("Printfleet-Delivery-Id") != d0.ID || g.Headers.Get("Printfleet-Delivery-Attempt") != "2" {
		t.Fatalf("headers %v", g.Headers)
	}
}

// TestDrainFinishesInFlight: when the dispatcher stops, an attempt in
// flight is finished and recorded before it returns.
func TestDrainFinishesInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newReceiver(t, nil)
	r.delay = 500 * time.Millisecond
	ep, _ := e.create(t, "user-a", r.URL)
	e.notice(t, "user-a", "order.paid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunDispatcher(ctx) }()
	waitFor(t, 5*time.Second, "in flight", func() bool { return len(r.received()) == 1 })
	cancel()
	<-done
	if d := e.deliveries(t, "user-a", ep.ID)[0]; d.Status != domain.DeliverySucceeded {
		t.Fatalf("after the drain: %+v", d)
	}
}

// TestRotationSignsWithBoth: after a rotation a delivery carries a v1
// signature under the new secret and one under the old.
func TestRotationSignsWithBoth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := newReceiver(t, nil)
	ep, old := e.create(t, "user-a", r.URL)
	_, fresh, err := e.svc.RotateWebhookSecret(context.Background(), user("user-a"), ep.ID)
	if err != nil || fresh == old {
		t.Fatalf("rotate: %v", err)
	}
	e.run(t)
	e.notice(t, "user-a", "design.ready")
	waitFor(t, 5*time.Second, "delivery", func() bool { return len(r.received()) == 1 })
	g := r.received()[0]
	sig := g.Headers.Get("Printfleet-Signature")
	if strings.Count(sig, "v1=") != 2 || verify(sig, g.Body, fresh) != nil || verify(sig, g.Body, old) != nil {
		t.Fatalf("signature %q", sig)
	}
	if verify(sig, g.Body, "whsec_other") == nil {
		t.Fatal("verifies under any secret")
	}
}

// TestTwoReplicas: two dispatchers on one database send each delivery once.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	other := app.New(e.opts) // a second replica: same store, its own slots
	r := newReceiver(t, nil)
	ep, _ := e.create(t, "user-a", r.URL)
	e.run(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); other.RunDispatcher(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for range 40 {
		e.notice(t, "user-a", "order.paid")
	}
	waitFor(t, 10*time.Second, "all sent", func() bool {
		for _, d := range e.deliveries(t, "user-a", ep.ID) {
			if d.Status != domain.DeliverySucceeded {
				return false
			}
		}
		return true
	})
	seen := map[string]int{}
	for _, g := range r.received() {
		seen[g.Headers.Get("Printfleet-Delivery-Id")]++
	}
	if len(seen) != 40 || len(r.received()) != 40 {
		t.Fatalf("%d requests for %d deliveries", len(r.received()), len(seen))
	}
}
