package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/egress"
)

// TestFanoutIdempotent: a redelivered message id creates nothing more; an
// owner without a matching endpoint costs no write.
func TestFanoutIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	e.create(t, "user-a", "https://example.com/a", "order.paid")
	e.create(t, "user-a", "https://example.com/b", "*")
	id := uuid.NewString()
	renders := 0
	n := app.Notice{ID: id, Type: "order.paid", OwnerID: "user-a", OccurredAt: time.Now(),
		Render: func() ([]byte, error) { renders++; return []byte(`{}`), nil }}
	for i, want := range []int{2, 0} {
		got, err := e.svc.Fanout(ctx, n)
		if err != nil || got != want {
			t.Fatalf("fan-out %d: %d %v, want %d", i+1, got, err, want)
		}
	}
	var deliveries, events int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM events)`).Scan(&deliveries, &events); err != nil {
		t.Fatal(err)
	}
	if deliveries != 2 || events != 1 {
		t.Fatalf("deliveries %d events %d", deliveries, events)
	}
	// Only the "*" endpoint wants order.shipped; another owner's notice
	// writes nothing and renders nothing.
	if got, _ := e.svc.Fanout(ctx, app.Notice{ID: uuid.NewString(), Type: "order.shipped", OwnerID: "user-a", Render: n.Render}); got != 1 {
		t.Fatalf("order.shipped fanned out to %d", got)
	}
	before := renders
	if got, _ := e.svc.Fanout(ctx, app.Notice{ID: uuid.NewString(), Type: "order.paid", OwnerID: "nobody", Render: n.Render}); got != 0 || renders != before {
		t.Fatalf("nobody's notice: %d, renders %d", got, renders-before)
	}
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("events %d %v", events, err)
	}
}

// TestCreateRefusesBlockedURL: the egress guard's refusal is an invalid
// argument with its message, and orders is not told.
func TestCreateRefusesBlockedURL(t *testing.T) {
	t.Parallel()
	eg, err := egress.New(egress.Config{AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *app.Options) { o.URLs = eg })
	for _, u := range []string{"http://127.0.0.1:8080/hook", "https://169.254.169.254/latest", "http://10.0.0.1/x", "ftp://example.com/"} {
		_, _, err := e.svc.CreateWebhook(context.Background(), user("user-a"), app.CreateInput{URL: u, EventTypes: []string{"*"}})
		if !errs.Is(err, errs.Invalid) {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if len(e.orders.Calls) != 0 {
		t.Fatalf("orders told: %v", e.orders.Calls)
	}
}

// TestCreateNeedsOrders: when orders cannot be told, nothing is created and
// the caller sees UNAVAILABLE.
func TestCreateNeedsOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.orders.Err = errors.New("connection refused")
	_, _, err := e.svc.CreateWebhook(context.Background(), user("user-a"), app.CreateInput{URL: "https://example.com/", EventTypes: []string{"*"}})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("create: %v", err)
	}
	es, _, err := e.svc.ListWebhooks(context.Background(), user("user-a"), app.ListInput{})
	if err != nil || len(es) != 0 {
		t.Fatalf("list: %d %v", len(es), err)
	}
}

// TestLifecycle: the limit of 20, list paging, rotation, delete and the
// subscriber marks sent to orders.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	var ids []string
	for i := range 20 {
		ep, _ := e.create(t, "user-a", fmt.Sprintf("https://example.com/%d", i))
		ids = append(ids, ep.ID)
	}
	if _, _, err := e.svc.CreateWebhook(ctx, user("user-a"), app.CreateInput{URL: "https://example.com/x", EventTypes: []string{"*"}}); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("21st: %v", err)
	}
	seen := map[string]bool{}
	tok := ""
	for {
		es, next, err := e.svc.ListWebhooks(ctx, user("user-a"), app.ListInput{PageSize: 7, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range es {
			if seen[ep.ID] || len(ep.SecretSealed) == 0 {
				t.Fatalf("listed %s twice", ep.ID)
			}
			seen[ep.ID] = true
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(seen) != 20 {
		t.Fatalf("listed %d", len(seen))
	}
	if _, _, err := e.svc.ListWebhooks(ctx, user("user-b"), app.ListInput{All: true}); !errs.Is(err, errs.PermissionDenied) {
		t.Fatalf("non-admin all: %v", err)
	}
	ep, sec, err := e.svc.RotateWebhookSecret(ctx, user("user-a"), ids[0])
	if err != nil || sec == "" || ep.PrevSecretExpiresAt.Before(time.Now().Add(23*time.Hour)) {
		t.Fatalf("rotate: %+v %v", ep, err)
	}
	for _, id := range ids {
		if err := e.svc.DeleteWebhook(ctx, user("user-a"), id); err != nil {
			t.Fatal(err)
		}
	}
	calls := e.orders.Calls
	if calls[len(calls)-1] != "user-a=false" || calls[len(calls)-2] != "user-a=true" {
		t.Fatalf("orders calls end %v", calls[len(calls)-2:])
	}
}

// TestListDeliveriesPages: newest first across pages, filtered by status
// and event.
func TestListDeliveriesPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	ep, _ := e.create(t, "user-a", "https://example.com/")
	var evs []string
	for range 7 {
		evs = append(evs, e.notice(t, "user-a", "order.paid"))
	}
	var got []string
	tok := ""
	for {
		ds, next, err := e.svc.ListDeliveries(ctx, user("user-a"), app.DeliveriesInput{WebhookID: ep.ID, PageSize: 3, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			got = append(got, d.EventID)
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(got) != 7 || got[0] != evs[6] || got[6] != evs[0] {
		t.Fatalf("order %v, events %v", got, evs)
	}
	ds, _, err := e.svc.ListDeliveries(ctx, user("user-a"), app.DeliveriesInput{WebhookID: ep.ID, EventID: evs[3], Status: "pending"})
	if err != nil || len(ds) != 1 || ds[0].EventID != evs[3] {
		t.Fatalf("by event: %v %v", ds, err)
	}
	if ds, _, _ := e.svc.ListDeliveries(ctx, user("user-a"), app.DeliveriesInput{WebhookID: ep.ID, Status: "succeeded"}); len(ds) != 0 {
		t.Fatalf("succeeded: %d", len(ds))
	}
	if _, _, err := e.svc.ListDeliveries(ctx, user("user-a"), app.DeliveriesInput{WebhookID: ep.ID, PageToken: "garbage!"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad token: %v", err)
	}
}
