package etsy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/etsy"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// setup starts a sandbox and connects a shop it issued.
func setup(t *testing.T, limits sandbox.Limits, o marketplace.Options) (*sandbox.Server, *etsy.Adapter, domain.Store) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Limits: limits, Seed: 11})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	o.CallTimeout = 5 * time.Second
	o.Retry = marketplace.Retry{MaxAttempts: 6, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}
	shop, err := sb.EtsyShop("")
	if err != nil {
		t.Fatal(err)
	}
	c := shop.Store.Credentials
	store := domain.Store{ID: "etsy-store-1", Marketplace: domain.Etsy, ShopID: shop.ShopID,
		Credentials: domain.Credentials{APIKey: c.APIKey, AccessToken: c.AccessToken, RefreshToken: c.RefreshToken},
		BaseURL:     srv.URL + "/etsy"}
	return sb, etsy.New(o), store
}

// receipts remembers the receipt placed for each (sandbox, n); holding the
// sandbox keeps its address from naming another one later.
var receipts sync.Map

type receiptKey struct {
	sb *sandbox.Server
	n  int
}

// order places a one-line receipt in the store's shop.
func order(t *testing.T, sb *sandbox.Server, store domain.Store, sku string) sandbox.EtsyPlacedOrder {
	t.Helper()
	placed, err := sb.EtsyOrder(store.ShopID, sandbox.EtsyOrderRequest{Currency: "USD",
		Lines:   []sandbox.EtsyOrderLine{{ProductID: "1234567", VariantID: "7654321", SKU: sku, Quantity: 1, Title: "Tee"}},
		Address: sandbox.OrderAddress{Name: "Ada Buyer", Line1: "1 Main St", City: "Portland", Region: "OR", PostalCode: "97201", CountryCode: "US"}})
	if err != nil {
		t.Fatal(err)
	}
	return placed
}

// shipment is shipment n of a receipt placed for it in the store's shop.
func shipment(t *testing.T, sb *sandbox.Server, store domain.Store, n int) domain.Shipment {
	t.Helper()
	key := receiptKey{sb, n}
	rid, ok := receipts.Load(key)
	if !ok {
		rid, _ = receipts.LoadOrStore(key, order(t, sb, store, "TEE-M").OrderID)
	}
	return domain.Shipment{ShipmentID: fmt.Sprintf("shp_%d", n), OrderID: fmt.Sprintf("ord_%d", n),
		ExternalOrderID: rid.(string), Carrier: "USPS", TrackingNumber: fmt.Sprintf("94001118992230%04d", n),
		ShippedAt: time.Now()}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPush(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	s := shipment(t, sb, store, 1)
	res, err := a.PushShipment(ctx(t), store, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.Attempts != 2 || res.Duplicate || res.Reference == "" || res.Request.Method != "POST" {
		t.Fatalf("result: %+v", res)
	}
	receipt, _ := json.Marshal(res)
	_, shared, _ := strings.Cut(store.Credentials.APIKey, ":")
	for _, secret := range []string{store.Credentials.APIKey, store.Credentials.AccessToken, store.Credentials.RefreshToken, shared} {
		if strings.Contains(string(receipt), secret) {
			t.Fatalf("receipt carries %q", secret)
		}
	}
	rep := sb.Received(sandbox.Etsy)
	if len(rep.Pushes) != 1 || rep.Pushes[0].Carrier != "usps" || rep.Pushes[0].Order != s.ExternalOrderID || rep.Pushes[0].Store != store.ShopID ||
		rep.Pushes[0].Ref != res.Reference {
		t.Fatalf("sandbox saw: %+v", rep.Pushes)
	}
}

func TestThrottlingStormStaysWithinBudget(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{EtsyPerSecond: 8}, marketplace.Options{})
	const n = 12 // 24 requests at 8/s
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 100+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rep := sb.Received(sandbox.Etsy)
	if c := rep.Counters; c.OverBudget != 0 || c.RejectedBudget != 0 || c.Accepted != n {
		t.Fatalf("counters: %+v", c)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	_ = sb.SetFaults(sandbox.Etsy, sandbox.Faults{ThrottleNext: 1})
	began := time.Now()
	res, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 2))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(began); el < time.Second {
		t.Fatalf("pushed after %v despite retry-after: 1", el)
	}
	c := sb.Received(sandbox.Etsy).Counters
	if c.ThrottledForced != 1 || c.OverBudget != 0 || c.Accepted != 1 || res.Attempts != 3 {
		t.Fatalf("counters %+v, attempts %d", c, res.Attempts)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	_ = sb.SetFaults(sandbox.Etsy, sandbox.Faults{ErrorNext: 2})
	res, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 3))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 4 || len(sb.Received(sandbox.Etsy).Pushes) != 1 {
		t.Fatalf("attempts %d, sandbox %+v", res.Attempts, sb.Received(sandbox.Etsy).Counters)
	}
}

func TestExpiredTokenRefreshedOnceForConcurrentPushes(t *testing.T) {
	t.Parallel()
	var saved atomic.Int32
	var savedCreds atomic.Value
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{OnTokenRefresh: func(s domain.Store, c domain.Credentials) {
		saved.Add(1)
		savedCreds.Store(c)
	}})
	_ = sb.SetFaults(sandbox.Etsy, sandbox.Faults{ExpireTokens: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 200+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c := sb.Received(sandbox.Etsy).Counters
	if c.TokenRefreshes != 1 || saved.Load() != 1 || c.Accepted != 8 {
		t.Fatalf("refreshes %d, saved %d, counters %+v", c.TokenRefreshes, saved.Load(), c)
	}
	user, _, _ := strings.Cut(store.Credentials.AccessToken, ".")
	if creds := savedCreds.Load().(domain.Credentials); !strings.HasPrefix(creds.AccessToken, user+".") || creds.AccessToken == store.Credentials.AccessToken ||
		creds.APIKey != store.Credentials.APIKey {
		t.Fatal("the saved credentials are not the refreshed ones")
	}
}

func TestRefusedAfterRefreshIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	store.TokenURL = store.BaseURL + "/no-such-token-endpoint"
	_ = sb.SetFaults(sandbox.Etsy, sandbox.Faults{ExpireTokens: true})
	res, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 4))
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonAuth || res.Attempts != 1 {
		t.Fatalf("err %v, attempts %d", err, res.Attempts)
	}
}

func TestValidationErrorIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	s := shipment(t, sb, store, 5)
	s.TrackingNumber = "no!"
	res, err := a.PushShipment(ctx(t), store, s)
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid || !strings.Contains(err.Error(), "tracking_code") {
		t.Fatalf("err = %v", err)
	}
	if c := sb.Received(sandbox.Etsy).Counters; c.ValidationErrors != 1 || res.Attempts != 2 {
		t.Fatalf("attempts %d, counters %+v", res.Attempts, c)
	}
}

func TestResendIsOneEffectivePush(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	s := shipment(t, sb, store, 6)
	first, err := a.PushShipment(ctx(t), store, s)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 6))
	if err != nil || !second.Duplicate || second.Reference != first.Reference || second.Attempts != 1 {
		t.Fatalf("second: %+v, %v", second, err)
	}
	rep := sb.Received(sandbox.Etsy)
	if rep.PushesByOrder[s.ExternalOrderID] != 1 || rep.Counters.Duplicates != 0 {
		t.Fatalf("sandbox: %+v", rep)
	}
}

func TestDailyBudgetExhausted(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{EtsyPerDay: 3}, marketplace.Options{})
	if _, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 7)); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 8))
	if !domain.IsRetryable(err) || domain.ReasonOf(err) != domain.ReasonBudget || time.Since(began) > time.Second {
		t.Fatalf("err %v after %v", err, time.Since(began))
	}
	if c := sb.Received(sandbox.Etsy).Counters; c.Requests != 3 || c.OverBudget != 0 {
		t.Fatalf("counters: %+v", c)
	}
}

// A key that is not keystring:shared_secret is refused before any request:
// Etsy refuses it on every call since February 2026.
func TestKeyWithoutSharedSecretNeverLeaves(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	for _, key := range []string{"keystring123", "keystring123:", "keystring123:shared:secret"} {
		store.Credentials.APIKey = key
		res, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 20))
		if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonAuth || res.Attempts != 0 {
			t.Fatalf("key %q: err %v, attempts %d", key, err, res.Attempts)
		}
		if strings.Contains(err.Error(), key) {
			t.Fatalf("the error repeats the key: %v", err)
		}
	}
	if n := sb.Received(sandbox.Etsy).Counters.Requests; n != 0 {
		t.Fatalf("%d requests reached the sandbox", n)
	}
}

// A carrier outside Etsy's list goes as "other" with its tracking code; the
// sandbox refuses raw names.
func TestUnlistedCarrierGoesAsOther(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	s := shipment(t, sb, store, 21)
	s.Carrier, s.TrackingNumber = "Posten Norge", "LX123456789NO"
	if _, err := a.PushShipment(ctx(t), store, s); err != nil {
		t.Fatal(err)
	}
	rep := sb.Received(sandbox.Etsy)
	if len(rep.Pushes) != 1 || rep.Pushes[0].Carrier != "other" || rep.Pushes[0].TrackingNumber != "LX123456789NO" {
		t.Fatalf("sandbox saw: %+v", rep.Pushes)
	}
}

// withoutShipments answers the first n createReceiptShipment calls with a 200
// whose receipt lacks the new shipment; drop says whether the call is kept
// from the sandbox (nothing added) or passed on (added, answer stripped).
func withoutShipments(t *testing.T, sb *sandbox.Server, n int32, drop bool) string {
	var left atomic.Int32
	left.Store(n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/tracking") || left.Add(-1) < 0 {
			sb.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		if !drop {
			sb.ServeHTTP(rec, r)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"receipt_id":1,"status":"Paid","shipments":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/etsy"
}

// A 200 without the new shipment in the answer is not success: the adapter
// reads the receipt again and pushes once more only if the tracking is not
// there.
func TestAnswerWithoutTheShipmentIsNotSuccess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		drop      bool
		duplicate bool
	}{{"not added", true, false}, {"added, answer stripped", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
			store.BaseURL = withoutShipments(t, sb, 1, tc.drop)
			res, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 22))
			if err != nil {
				t.Fatal(err)
			}
			rep := sb.Received(sandbox.Etsy)
			if len(rep.Pushes) != 1 || res.Reference != rep.Pushes[0].Ref || res.Duplicate != tc.duplicate {
				t.Fatalf("result %+v, sandbox %+v", res, rep.Pushes)
			}
			t.Logf("%s: %d requests, %d push in the sandbox, duplicate=%v", tc.name, res.Attempts, len(rep.Pushes), res.Duplicate)
		})
	}
	// Every answer without the shipment: the push gives up retryable.
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	store.BaseURL = withoutShipments(t, sb, 100, true)
	res, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 23))
	if !domain.IsRetryable(err) || res.Reference != "" {
		t.Fatalf("err %v, result %+v", err, res)
	}
}
