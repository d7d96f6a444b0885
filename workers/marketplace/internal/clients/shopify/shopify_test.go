package shopify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/shopify"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

func setup(t *testing.T, limits sandbox.Limits) (*sandbox.Server, *shopify.Adapter, domain.Store) {
	t.Helper()
	return setupWith(t, limits, marketplace.Options{})
}

// setupWith starts a sandbox, issues the shop "acme" there and connects it as
// the store the adapter pushes to.
func setupWith(t *testing.T, limits sandbox.Limits, o marketplace.Options) (*sandbox.Server, *shopify.Adapter, domain.Store) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Limits: limits, Seed: 7})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	o.CallTimeout = 5 * time.Second
	o.Retry = marketplace.Retry{MaxAttempts: 6, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}
	a := shopify.New(o)
	return sb, a, connect(t, sb, srv.URL, "acme", "store-1")
}

// connect issues shop in the sandbox and returns it as a store.
func connect(t *testing.T, sb *sandbox.Server, url, shop, id string) domain.Store {
	t.Helper()
	issued, err := sb.IssueShopifyShop(shop)
	if err != nil {
		t.Fatal(err)
	}
	c := issued.Store.Credentials
	return domain.Store{ID: id, Marketplace: domain.Shopify, ShopID: shop, BaseURL: url + "/shopify/" + shop,
		Credentials: domain.Credentials{AccessToken: c.AccessToken, RefreshToken: c.RefreshToken, ClientID: c.ClientID, ClientSecret: c.ClientSecret}}
}

func shipment(n int) domain.Shipment {
	return domain.Shipment{ShipmentID: fmt.Sprintf("shp_%d", n), OrderID: fmt.Sprintf("ord_%d", n),
		ExternalOrderID: fmt.Sprint(5000 + n), Carrier: "UPS", TrackingNumber: fmt.Sprintf("1Z999AA1012345%04d", n),
		TrackingURL: "https://www.ups.com/track?tracknum=1Z", ShippedAt: time.Now()}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPush(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	res, err := a.PushShipment(ctx(t), store, shipment(1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.Attempts != 2 || res.Duplicate || !strings.HasPrefix(res.Reference, "gid://shopify/Fulfillment/") {
		t.Fatalf("result: %+v", res)
	}
	if !strings.Contains(res.Request.Body, "fulfillmentCreate") || !strings.Contains(res.Response.Body, res.Reference) || res.Response.RequestID == "" {
		t.Fatalf("receipt summaries: %+v / %+v", res.Request, res.Response)
	}
	receipt, _ := json.Marshal(res)
	if strings.Contains(string(receipt), store.Credentials.AccessToken) {
		t.Fatal("the receipt carries the access token")
	}
	rep := sb.Received(sandbox.Shopify)
	if len(rep.Pushes) != 1 || rep.Pushes[0].TrackingNumber != "1Z999AA10123450001" || rep.Pushes[0].Carrier != "UPS" ||
		rep.Pushes[0].Order != "gid://shopify/Order/5001" || rep.Pushes[0].Store != "acme" || rep.Pushes[0].TrackingURL == "" {
		t.Fatalf("sandbox saw: %+v", rep.Pushes)
	}
}

func TestThrottlingStormStaysWithinBudget(t *testing.T) {
	t.Parallel()
	// A read asks for 78 points and a mutation 10: 150 points hold one read and a mutation.
	sb, a, store := setup(t, sandbox.Limits{ShopifyBucketSize: 150, ShopifyRestoreRate: 100})
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(100+i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rep := sb.Received(sandbox.Shopify)
	if c := rep.Counters; c.OverBudget != 0 || c.RejectedBudget != 0 {
		t.Fatalf("requests beyond the shop's budget: %+v", c)
	}
	if len(rep.Pushes) != n {
		t.Fatalf("pushes = %d, want %d", len(rep.Pushes), n)
	}
}

func TestForcedThrottleIsWaitedOut(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{ShopifyBucketSize: 1000, ShopifyRestoreRate: 200})
	if err := sb.SetFaults(sandbox.Shopify, sandbox.Faults{ThrottleNext: 3}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	res, err := a.PushShipment(ctx(t), store, shipment(2))
	if err != nil {
		t.Fatal(err)
	}
	// Each THROTTLED answer reports an empty bucket; a read needs 78 points at 200/s.
	if el := time.Since(began); el < 3*340*time.Millisecond {
		t.Fatalf("pushed after %v: the restore time was not waited out", el)
	}
	c := sb.Received(sandbox.Shopify).Counters
	if c.ThrottledForced != 3 || c.OverBudget != 0 || c.Accepted != 1 || res.Attempts != 5 {
		t.Fatalf("counters %+v, attempts %d", c, res.Attempts)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	_ = sb.SetFaults(sandbox.Shopify, sandbox.Faults{ErrorNext: 2})
	res, err := a.PushShipment(ctx(t), store, shipment(3))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 4 || sb.Received(sandbox.Shopify).Counters.InjectedErrors != 2 || len(sb.Received(sandbox.Shopify).Pushes) != 1 {
		t.Fatalf("attempts %d, sandbox %+v", res.Attempts, sb.Received(sandbox.Shopify).Counters)
	}
}

func TestPersistentOutageGivesUpRetryable(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	_ = sb.SetFaults(sandbox.Shopify, sandbox.Faults{ErrorRate: 1})
	res, err := a.PushShipment(ctx(t), store, shipment(4))
	if !domain.IsRetryable(err) || domain.ReasonOf(err) != domain.ReasonUnavailable || res.Attempts != 6 {
		t.Fatalf("err %v, attempts %d", err, res.Attempts)
	}
}

func TestInvalidTrackingIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	s := shipment(5)
	s.TrackingNumber = "??"
	res, err := a.PushShipment(ctx(t), store, s)
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid || !strings.Contains(err.Error(), "Tracking number is invalid") {
		t.Fatalf("err = %v", err)
	}
	c := sb.Received(sandbox.Shopify).Counters
	if res.Attempts != 2 || c.ValidationErrors != 1 || c.Accepted != 0 {
		t.Fatalf("attempts %d, counters %+v: a permanent error was retried", res.Attempts, c)
	}
}

func TestResendIsOneEffectivePush(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	first, err := a.PushShipment(ctx(t), store, shipment(6))
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.PushShipment(ctx(t), store, shipment(6))
	if err != nil || !second.Duplicate || second.Attempts != 1 || first.Duplicate {
		t.Fatalf("second push: %+v, %v", second, err)
	}
	rep := sb.Received(sandbox.Shopify)
	if rep.PushesByOrder["gid://shopify/Order/5006"] != 1 || rep.Counters.Duplicates != 0 {
		t.Fatalf("sandbox: %+v", rep)
	}
}

func TestConcurrentResendsAreOneEffectivePush(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(7)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := sb.Received(sandbox.Shopify).PushesByOrder["gid://shopify/Order/5007"]; got != 1 {
		t.Fatalf("effective pushes = %d, want 1", got)
	}
}

// A non-expiring token (no refresh token) that Shopify refuses fails for
// good at once: the store needs reconnecting.
func TestRefusedTokenIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	store.Credentials.RefreshToken = ""
	_ = sb.SetFaults(sandbox.Shopify, sandbox.Faults{ExpireTokens: true})
	res, err := a.PushShipment(ctx(t), store, shipment(8))
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonAuth || res.Attempts != 1 {
		t.Fatalf("err %v, attempts %d", err, res.Attempts)
	}
}

func TestBadInputNeverLeaves(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	s := shipment(9)
	s.ExternalOrderID = "#1001"
	if _, err := a.PushShipment(ctx(t), store, s); !domain.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	if n := sb.Received(sandbox.Shopify).Counters.Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// Shopify reports a failure of its own as HTTP 200 with an
// INTERNAL_SERVER_ERROR in errors: retried, not permanent.
func TestInternalServerErrorInA200IsRetried(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	_ = sb.SetFaults(sandbox.Shopify, sandbox.Faults{InternalErrorNext: 1})
	res, err := a.PushShipment(ctx(t), store, shipment(30))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || sb.Received(sandbox.Shopify).Counters.InjectedErrors != 1 || len(sb.Received(sandbox.Shopify).Pushes) != 1 {
		t.Fatalf("attempts %d, sandbox %+v", res.Attempts, sb.Received(sandbox.Shopify).Counters)
	}
	// Persistent: the push gives up retryable, never permanent.
	_ = sb.SetFaults(sandbox.Shopify, sandbox.Faults{InternalErrorNext: 100})
	res, err = a.PushShipment(ctx(t), store, shipment(31))
	if !domain.IsRetryable(err) || domain.ReasonOf(err) != domain.ReasonUnavailable || res.Attempts != 6 {
		t.Fatalf("err %v, attempts %d", err, res.Attempts)
	}
	t.Logf("one INTERNAL_SERVER_ERROR: pushed in 3 requests; persistent: gave up retryable after %d", res.Attempts)
}

// The Admin API version is a supported one by default and configurable; the
// sandbox serves only the versions supported in late 2026.
func TestAPIVersion(t *testing.T) {
	t.Parallel()
	if !sandbox.ShopifyVersions[shopify.APIVersion] {
		t.Fatalf("default version %s is not one the sandbox serves as supported", shopify.APIVersion)
	}
	sb, _, store := setup(t, sandbox.Limits{})
	o := marketplace.Options{CallTimeout: 5 * time.Second, Retry: marketplace.Retry{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond}}
	o.ShopifyAPIVersion = "2026-07"
	res, err := shopify.New(o).PushShipment(ctx(t), store, shipment(40))
	if err != nil || res.Duplicate {
		t.Fatalf("2026-07: %+v, %v", res, err)
	}
	o.ShopifyAPIVersion = "2025-01" // past its support window
	if _, err := shopify.New(o).PushShipment(ctx(t), store, shipment(41)); !domain.IsPermanent(err) {
		t.Fatalf("2025-01: %v", err)
	}
	before := sb.Received(sandbox.Shopify).Counters.Requests
	o.ShopifyAPIVersion = "latest"
	if _, err := shopify.New(o).PushShipment(ctx(t), store, shipment(42)); !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid {
		t.Fatalf("latest: %v", err)
	}
	if n := sb.Received(sandbox.Shopify).Counters.Requests; n != before {
		t.Fatalf("a malformed version reached the sandbox: %d requests", n-before)
	}
}

// A push leaves the shop's budget use on the worker's gauge, labelled by
// marketplace and shop id: what the shop's throttle status says is spent.
func TestPushRecordsBudgetUse(t *testing.T) {
	t.Parallel()
	sb, a, _ := setup(t, sandbox.Limits{ShopifyBucketSize: 150, ShopifyRestoreRate: 1})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	shop := fmt.Sprint("budget-", time.Now().UnixNano())
	store := connect(t, sb, srv.URL, shop, "store-budget")
	if _, err := a.PushShipment(ctx(t), store, shipment(1)); err != nil {
		t.Fatal(err)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got *float64
	for _, mf := range mfs {
		if mf.GetName() != "printfleet_marketplace_budget_used_ratio" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["marketplace"] == "shopify" && labels["shop"] == shop {
				v := m.GetGauge().GetValue()
				got = &v
			}
		}
	}
	// The push's read and mutation charged points the slow restore rate
	// has not given back.
	if got == nil || *got <= 0 || *got > 1 {
		t.Fatalf("budget used of %s: %v, want a share in (0, 1]", shop, got)
	}
}
