package server

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// counting counts the pushes a replica makes.
type counting struct {
	app.Marketplaces
	n *atomic.Int64
}

func (c counting) PushShipment(ctx context.Context, st domain.Store, s domain.Shipment) (domain.Result, error) {
	c.n.Add(1)
	return c.Marketplaces.PushShipment(ctx, st, s)
}

// succeeded waits until every shipment in ids has a SUCCEEDED event.
func succeeded(h *harness, ids map[string]bool, timeout time.Duration) {
	h.t.Helper()
	h.waitEvents(timeout, func(evs []*eventsv1.MarketplacePushed) bool {
		done := map[string]bool{}
		for _, ev := range evs {
			if ids[ev.GetShipmentId()] && ev.GetOutcome() == eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED {
				done[ev.GetShipmentId()] = true
			}
		}
		if len(done) == len(ids) {
			return true
		}
		if len(evs) >= len(ids) {
			for _, ev := range evs {
				if ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED {
					h.t.Fatalf("shipment %s: %s %s", ev.GetShipmentId(), ev.GetOutcome(), ev.GetMessage())
				}
			}
		}
		return false
	})
}

// Two replicas push one Amazon seller's shipments at once. With the budget
// in Redis they stay within the seller's budget together (the sandbox counts
// every request that arrives without budget); with a budget per process
// (the control) they exceed it, so the check can fail.
func TestReplicasShareOneStoresBudget(t *testing.T) {
	t.Parallel()
	const n = 30
	for _, tc := range []struct {
		name   string
		add    func(*testenv.Catalog) testenv.Seller
		shared bool
	}{
		{"amazon shared", testenv.AddAmazon, true},
		{"amazon per-process", testenv.AddAmazon, false},
		{"shopify shared", testenv.AddShopify, true},
		{"shopify per-process", testenv.AddShopify, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{shared: tc.shared, options: Options{Concurrency: 16},
				// A small shop bucket: 30 pushes need about three of it.
				limits:        marketplace.Limits{ShopifyBucketSize: 400, ShopifyRestoreRate: 100},
				deliveryLimit: 50, retryMin: 50 * time.Millisecond, retryMax: 200 * time.Millisecond})
			s := tc.add(h.catalog)
			var second atomic.Int64
			h.replica(func(d *app.Deps) { d.Marketplaces = counting{d.Marketplaces, &second} })
			ids := map[string]bool{}
			start := time.Now()
			for i := range n {
				ev := testenv.Shipped(s, i+1)
				ids[ev.GetShipmentId()] = true
				h.publish("", ev, eventsv1.KeyOrderShipped)
			}
			succeeded(h, ids, 90*time.Second)
			took := time.Since(start)
			rep := h.sb.Received(s.Market)
			lim := h.sb.Limits()
			budget := fmt.Sprintf("%.0f requests/s, burst %d", lim.AmazonRate, lim.AmazonBurst)
			if s.Market == marketplace.Shopify {
				budget = fmt.Sprintf("%.0f cost points/s, bucket %.0f", lim.ShopifyRestoreRate, lim.ShopifyBucketSize)
			}
			t.Logf("%s: %d shipments by two replicas (second replica made %d of the pushes) in %v; budget %s; "+
				"marketplace saw %d requests, %d over budget, %d refused for budget",
				tc.name, n, second.Load(), took.Round(10*time.Millisecond), budget,
				rep.Counters.Requests, rep.Counters.OverBudget, rep.Counters.RejectedBudget)
			for order, c := range rep.PushesByOrder {
				if c != 1 {
					t.Fatalf("order %s pushed %d times", order, c)
				}
			}
			if len(rep.PushesByOrder) != n {
				t.Fatalf("%d orders pushed, want %d", len(rep.PushesByOrder), n)
			}
			if second.Load() == 0 || second.Load() >= n {
				t.Fatalf("the second replica made %d of %d pushes: the test did not run two replicas", second.Load(), rep.Counters.Requests)
			}
			if tc.shared && rep.Counters.OverBudget != 0 {
				t.Fatalf("shared budget: %d requests over the seller's budget", rep.Counters.OverBudget)
			}
			// Shopify's per-process mirror follows the shop's own count, so it
			// overshoots only by a call or two: its control is logged only.
			if !tc.shared && s.Market == marketplace.Amazon && rep.Counters.OverBudget == 0 {
				t.Fatal("per-process budgets stayed within the seller's budget: the shared case proves nothing")
			}
		})
	}
}

// Two replicas find an Etsy store's access token expired together: one
// refreshes, saves the pair in the catalog and the other adopts it (one
// exchange at Etsy). A replica started afterwards, with an empty token
// cache, pushes with the saved token and exchanges nothing.
func TestRestartedReplicaUsesTheRefreshedToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{shared: true, options: Options{Concurrency: 4}})
	s := testenv.AddEtsy(h.catalog)
	if err := h.sb.SetFaults(marketplace.Etsy, marketplace.Faults{ExpireTokens: true}); err != nil {
		t.Fatal(err)
	}
	before, _ := h.catalog.Saved(s.ID)
	var second atomic.Int64
	_, stopSecond := h.replica(func(d *app.Deps) { d.Marketplaces = counting{d.Marketplaces, &second} })
	ids := map[string]bool{}
	for i := range 12 {
		ev := testenv.Shipped(s, i+1)
		ids[ev.GetShipmentId()] = true
		h.publish("", ev, eventsv1.KeyOrderShipped)
	}
	succeeded(h, ids, 30*time.Second)
	first := h.sb.Received(marketplace.Etsy).Counters
	saved, saves := h.catalog.Saved(s.ID)
	t.Logf("two replicas, 12 shipments (second replica %d pushes), token expired: %d token exchanges at Etsy, %d refused tokens, "+
		"%d saves in the catalog", second.Load(), first.TokenRefreshes, first.AuthFailures, saves)
	if second.Load() == 0 {
		t.Fatal("the second replica pushed nothing: the test did not run two replicas")
	}
	if first.TokenRefreshes != 1 || saves != 1 {
		t.Fatalf("token exchanges = %d, saves = %d; want 1 and 1", first.TokenRefreshes, saves)
	}
	c := saved.GetCredentials()
	if !strings.HasPrefix(c.GetAccessToken(), s.RefreshedPrefix) || c.GetRefreshToken() == before.GetCredentials().GetRefreshToken() ||
		c.GetApiKey() != before.GetCredentials().GetApiKey() {
		t.Fatalf("the catalog holds access %q refresh %q, want the refreshed (rotated) pair", c.GetAccessToken(), c.GetRefreshToken())
	}

	// Both replicas stop; a new one starts with nothing in memory.
	h.stop()
	stopSecond()
	h.replica()
	ev := testenv.Shipped(s, 100)
	h.publish("", ev, eventsv1.KeyOrderShipped)
	succeeded(h, map[string]bool{ev.GetShipmentId(): true}, 20*time.Second)
	after := h.sb.Received(marketplace.Etsy).Counters
	t.Logf("restarted replica: token exchanges %d → %d, refused tokens %d → %d", first.TokenRefreshes, after.TokenRefreshes,
		first.AuthFailures, after.AuthFailures)
	if after.TokenRefreshes != first.TokenRefreshes || after.AuthFailures != first.AuthFailures {
		t.Fatal("the restarted replica did not push with the saved token")
	}
}

// Shopify refusing a shop's token (an uninstalled app, a revoked token)
// fails the push for good and marks the store as needing reconnection in the
// catalog, with the marketplace's answer and no secret.
func TestShopifyRefusalMarksTheStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{shared: true})
	s := testenv.AddShopify(h.catalog)
	// Uninstalling the app revokes the shop's tokens, the refresh token too.
	if err := h.sb.UninstallShopifyApp(s.ShopID); err != nil {
		t.Fatal(err)
	}
	ev := testenv.Shipped(s, 1)
	h.publish("", ev, eventsv1.KeyOrderShipped)
	got := h.eventFor(ev.GetShipmentId(), 20*time.Second)
	st, _ := h.catalog.Saved(s.ID)
	t.Logf("shopify answered %d: outcome %s, store needs_reconnection=%v, reason %q", got.GetHttpStatus(), got.GetOutcome(),
		st.GetStore().GetNeedsReconnection(), st.GetStore().GetReconnectionReason())
	if got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT || got.GetHttpStatus() != 401 {
		t.Fatalf("event %v", got)
	}
	if !st.GetStore().GetNeedsReconnection() || !strings.Contains(st.GetStore().GetReconnectionReason(), "401") {
		t.Fatalf("store after a 401: %v", st.GetStore())
	}
	testenv.AssertNoSecrets(t, "the reconnection reason", []byte(st.GetStore().GetReconnectionReason()), s)
}
