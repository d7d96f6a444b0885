package amazon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/amazon"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

const (
	accessToken  = "Atza|seller9.initial-access"
	refreshToken = "Atzr|seller9.refresh"
	clientSecret = "amzn-client-secret-xyz"
)

func setup(t *testing.T, limits sandbox.Limits) (*sandbox.Server, *amazon.Adapter, domain.Store) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Limits: limits, Seed: 13})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	a := amazon.New(marketplace.Options{CallTimeout: 5 * time.Second,
		Retry: marketplace.Retry{MaxAttempts: 6, BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond}})
	store := domain.Store{ID: "amz-store-1", Marketplace: domain.Amazon, ShopID: "ATVPDKIKX0DER", BaseURL: srv.URL + "/amazon",
		Credentials: domain.Credentials{AccessToken: accessToken, RefreshToken: refreshToken,
			ClientID: "amzn1.application-oa2-client.abc", ClientSecret: clientSecret}}
	return sb, a, store
}

func shipment(n int) domain.Shipment {
	return domain.Shipment{ShipmentID: fmt.Sprintf("shp_%d", n), OrderID: fmt.Sprintf("ord_%d", n),
		ExternalOrderID: fmt.Sprintf("902-3159896-%07d", n), Carrier: "FedEx", TrackingNumber: fmt.Sprintf("7712345678%04d", n),
		ShippedAt: time.Now().Add(-time.Hour), Items: []domain.Item{{ExternalID: "12345678901234", SKU: "TEE-M", Quantity: 2}}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPackageReferenceID(t *testing.T) {
	t.Parallel()
	a, b := amazon.PackageReferenceID("shp_1"), amazon.PackageReferenceID("shp_2")
	if a != amazon.PackageReferenceID("shp_1") || a == b || strings.HasPrefix(a, "0") || strings.HasPrefix(a, "-") {
		t.Fatalf("ids %q %q", a, b)
	}
}

func TestPush(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	res, err := a.PushShipment(ctx(t), store, shipment(1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 204 || res.Attempts != 1 || res.Reference != amazon.PackageReferenceID("shp_1") || res.Response.RequestID == "" {
		t.Fatalf("result: %+v", res)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.Request.Body), &body); err != nil || body["marketplaceId"] != "ATVPDKIKX0DER" {
		t.Fatalf("request summary: %q", res.Request.Body)
	}
	receipt, _ := json.Marshal(res)
	for _, secret := range []string{accessToken, refreshToken, clientSecret} {
		if strings.Contains(string(receipt), secret) {
			t.Fatalf("receipt carries %q", secret)
		}
	}
	rep := sb.Received(sandbox.Amazon)
	if len(rep.Pushes) != 1 || rep.Pushes[0].Carrier != "FedEx" || rep.Pushes[0].Store != "seller9" || rep.Pushes[0].Ref != res.Reference {
		t.Fatalf("sandbox saw: %+v", rep.Pushes)
	}
}

func TestThrottlingStormStaysWithinBudget(t *testing.T) {
	t.Parallel()
	// The client starts at the documented 2/s burst 10 and adopts the 10/s the
	// sandbox announces in x-amzn-RateLimit-Limit.
	sb, a, store := setup(t, sandbox.Limits{AmazonRate: 10, AmazonBurst: 10})
	const n = 25
	var wg sync.WaitGroup
	began := time.Now()
	for i := range n {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(100+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c := sb.Received(sandbox.Amazon).Counters
	if c.OverBudget != 0 || c.RejectedBudget != 0 || c.Accepted != n {
		t.Fatalf("counters: %+v", c)
	}
	if el := time.Since(began); el < time.Second {
		t.Fatalf("%d pushes took %v: faster than the bucket allows", n, el)
	}
}

func TestLowerAnnouncedRateAppliesToWaitingPushes(t *testing.T) {
	t.Parallel()
	// The seller's plan is below the documented 2/s: pushes already waiting must
	// slow down as soon as the first answer says so.
	sb, a, store := setup(t, sandbox.Limits{AmazonRate: 1, AmazonBurst: 10})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(300+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c := sb.Received(sandbox.Amazon).Counters; c.OverBudget != 0 || c.Accepted != 12 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestForcedThrottleStorm(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{AmazonRate: 5, AmazonBurst: 10})
	_ = sb.SetFaults(sandbox.Amazon, sandbox.Faults{ThrottleNext: 2})
	res, err := a.PushShipment(ctx(t), store, shipment(2))
	if err != nil {
		t.Fatal(err)
	}
	c := sb.Received(sandbox.Amazon).Counters
	if c.ThrottledForced != 2 || c.OverBudget != 0 || c.Accepted != 1 || res.Attempts != 3 {
		t.Fatalf("counters %+v, attempts %d", c, res.Attempts)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	_ = sb.SetFaults(sandbox.Amazon, sandbox.Faults{ErrorNext: 3})
	res, err := a.PushShipment(ctx(t), store, shipment(3))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 4 || len(sb.Received(sandbox.Amazon).Pushes) != 1 {
		t.Fatalf("attempts %d, sandbox %+v", res.Attempts, sb.Received(sandbox.Amazon).Counters)
	}
}

func TestExpiredTokenRefreshedOnceForConcurrentPushes(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	_ = sb.SetFaults(sandbox.Amazon, sandbox.Faults{ExpireTokens: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(200+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c := sb.Received(sandbox.Amazon).Counters
	if c.TokenRefreshes != 1 || c.Accepted != 8 {
		t.Fatalf("counters: %+v", c)
	}
	for _, p := range sb.Received(sandbox.Amazon).Pushes {
		if p.Store != "seller9" {
			t.Fatalf("push under seller %q", p.Store)
		}
	}
}

func TestNoAccessTokenRefreshesFirst(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	store.Credentials.AccessToken = ""
	res, err := a.PushShipment(ctx(t), store, shipment(4))
	if err != nil {
		t.Fatal(err)
	}
	if c := sb.Received(sandbox.Amazon).Counters; c.TokenRefreshes != 1 || c.AuthFailures != 0 || res.Attempts != 1 || len(res.Calls) != 2 || !res.Calls[0].Token {
		t.Fatalf("counters %+v, result %+v", c, res)
	}
	if res.Calls[0].Request.Body != "[redacted]" || res.Calls[0].Response.Body != "[redacted]" {
		t.Fatal("token exchange bodies are in the receipt")
	}
}

func TestValidationErrorIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	s := shipment(5)
	s.ExternalOrderID = "not-an-amazon-order"
	res, err := a.PushShipment(ctx(t), store, s)
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid || !strings.Contains(err.Error(), "InvalidInput") {
		t.Fatalf("err = %v", err)
	}
	if c := sb.Received(sandbox.Amazon).Counters; c.ValidationErrors != 1 || c.Requests != 1 || res.Attempts != 1 || res.Status != 400 {
		t.Fatalf("attempts %d, counters %+v", res.Attempts, c)
	}
}

func TestMissingItemsNeverLeave(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	s := shipment(6)
	s.Items = nil
	if _, err := a.PushShipment(ctx(t), store, s); !domain.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	if n := sb.Received(sandbox.Amazon).Counters.Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestResendEditsThePackage(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	if _, err := a.PushShipment(ctx(t), store, shipment(7)); err != nil {
		t.Fatal(err)
	}
	s := shipment(7)
	s.TrackingNumber = "771234567899999" // a corrected tracking number
	if _, err := a.PushShipment(ctx(t), store, s); err != nil {
		t.Fatal(err)
	}
	rep := sb.Received(sandbox.Amazon)
	if rep.PushesByOrder["902-3159896-0000007"] != 1 || rep.Counters.Updates != 1 || rep.Pushes[0].TrackingNumber != "771234567899999" {
		t.Fatalf("sandbox: %+v", rep)
	}
}
