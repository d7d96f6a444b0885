package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// ---------------------------------------------------------------- fakes

type fakeImportStores struct {
	mu      sync.Mutex
	list    []ImportStore
	stores  map[string]domain.Store
	saved   map[string][]string
	listErr error
	saveErr error
	lookErr error
}

func (f *fakeImportStores) ListImportStores(context.Context) ([]ImportStore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list), f.listErr
}

func (f *fakeImportStores) SaveImportCursor(_ context.Context, storeID, cursor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saveErr != nil {
		return f.saveErr
	}
	if f.saved == nil {
		f.saved = map[string][]string{}
	}
	f.saved[storeID] = append(f.saved[storeID], cursor)
	return nil
}

func (f *fakeImportStores) StoreByID(_ context.Context, storeID string) (domain.Store, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lookErr != nil {
		return domain.Store{}, f.lookErr
	}
	st, ok := f.stores[storeID]
	if !ok {
		return domain.Store{}, fmt.Errorf("%w: store %s", domain.ErrStoreUnusable, storeID)
	}
	return st, nil
}

func (f *fakeImportStores) savedCursors(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.saved[id])
}

// fakeImporters serves pages by cursor per store, and parses webhooks with
// parse.
type fakeImporters struct {
	mu       sync.Mutex
	pages    map[string]map[string]domain.OrderPage // store -> cursor -> page
	errs     map[string]error                       // store/cursor -> error
	sinces   []time.Time
	polls    atomic.Int32
	inFlight atomic.Int32
	maxIn    atomic.Int32
	delay    time.Duration
	// hold, when set for a store, keeps its polls waiting until closed.
	hold  map[string]chan struct{}
	parse func([]byte) (domain.ExternalOrder, error)
}

func (f *fakeImporters) PollOrders(ctx context.Context, st domain.Store, cursor string, since time.Time) (domain.OrderPage, error) {
	f.polls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return domain.OrderPage{}, ctx.Err()
		}
	}
	if h := f.hold[st.ID]; h != nil {
		select {
		case <-h:
		case <-ctx.Done():
			return domain.OrderPage{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinces = append(f.sinces, since)
	if err := f.errs[st.ID+"/"+cursor]; err != nil {
		return domain.OrderPage{}, err
	}
	return f.pages[st.ID][cursor], nil
}

func (f *fakeImporters) ParseOrderWebhook(m domain.Marketplace, body []byte) (domain.ExternalOrder, error) {
	if m != domain.Shopify {
		return domain.ExternalOrder{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: m, Op: "parse webhook"}
	}
	return f.parse(body)
}

type importCall struct {
	Store domain.Store
	Order domain.ExternalOrder
}

type fakeOrders struct {
	mu    sync.Mutex
	calls []importCall
	seen  map[string]bool
	errs  map[string]error // by external id
}

func (f *fakeOrders) ImportOrder(_ context.Context, st domain.Store, o domain.ExternalOrder) (domain.ImportOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, importCall{st, o})
	if err := f.errs[o.ExternalID]; err != nil {
		return domain.ImportFailed, err
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	key := st.ID + "/" + o.ExternalID
	switch {
	case o.Cancelled && f.seen[key]:
		return domain.ImportCancelled, nil
	case o.Cancelled:
		return domain.ImportIgnored, nil
	case f.seen[key]:
		return domain.ImportDuplicate, nil
	}
	f.seen[key] = true
	return domain.ImportImported, nil
}

func (f *fakeOrders) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Order.ExternalID)
	}
	return out
}

type fakeTryLocks struct {
	mu   sync.Mutex
	held map[string]bool
}

func (f *fakeTryLocks) TryLock(_ context.Context, key string) (func(), bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held == nil {
		f.held = map[string]bool{}
	}
	if f.held[key] {
		return nil, false, nil
	}
	f.held[key] = true
	return func() { f.mu.Lock(); delete(f.held, key); f.mu.Unlock() }, true, nil
}

type fakeReconnections struct {
	mu     sync.Mutex
	marked map[string]string
}

func (f *fakeReconnections) MarkNeedsReconnection(_ context.Context, storeID, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.marked == nil {
		f.marked = map[string]string{}
	}
	f.marked[storeID] = reason
	return nil
}

// ---------------------------------------------------------------- fixtures

var importNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func testImportOptions() ImportOptions {
	return ImportOptions{PollEvery: time.Minute, Lookback: 72 * time.Hour, Concurrency: 2, MaxPages: 5,
		PollTimeout: 10 * time.Second, ImportTimeout: 10 * time.Second}
}

func order(id string, ready bool) domain.ExternalOrder {
	return domain.ExternalOrder{ExternalID: id, Ready: ready, Currency: "USD", UpdatedAt: importNow.Add(-time.Minute),
		Lines:   []domain.ExternalLine{{ItemID: "li-" + id, ProductID: "p1", VariantID: "v1", SKU: "TEE-M", Title: "Tee", Quantity: 1}},
		Address: domain.ExternalAddress{Name: "Ada", Line1: "1 Main St", City: "Springfield", Region: "IL", PostalCode: "62701", CountryCode: "US"}}
}

type importFixture struct {
	stores *fakeImportStores
	mkts   *fakeImporters
	orders *fakeOrders
	locks  *fakeTryLocks
	recon  *fakeReconnections
	im     *Importer
}

func newImportFixture(t *testing.T, opt ImportOptions) *importFixture {
	t.Helper()
	f := &importFixture{
		stores: &fakeImportStores{stores: map[string]domain.Store{
			"s1": {ID: "s1", Marketplace: domain.Shopify, ShopID: "acme", OwnerID: "u1", PaymentMethod: "card"},
			"s2": {ID: "s2", Marketplace: domain.Etsy, ShopID: "555", OwnerID: "u2", PaymentMethod: "invoice"},
		}},
		mkts: &fakeImporters{pages: map[string]map[string]domain.OrderPage{}, errs: map[string]error{},
			parse: func(b []byte) (domain.ExternalOrder, error) {
				switch string(b) {
				case "ready":
					return order("1001", true), nil
				case "unpaid":
					return order("1002", false), nil
				case "cancelled":
					o := order("1003", false)
					o.Cancelled, o.CancelReason = true, "customer"
					return o, nil
				}
				return domain.ExternalOrder{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
					Op: "parse webhook", Message: "not an order"}
			}},
		orders: &fakeOrders{errs: map[string]error{}},
		locks:  &fakeTryLocks{},
		recon:  &fakeReconnections{},
	}
	im, err := NewImporter(opt, ImportDeps{Stores: f.stores, Marketplaces: f.mkts, Orders: f.orders, Locks: f.locks,
		Reconnections: f.recon, Now: func() time.Time { return importNow }})
	if err != nil {
		t.Fatal(err)
	}
	f.im = im
	return f
}

func retryable() error {
	return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify, Op: "x"}
}

// rejected is an orders error of an order refused as invalid.
type rejected struct{}

func (rejected) Error() string { return "invalid order" }
func (rejected) Is(target error) bool {
	return target == domain.ErrOrderRejected || target == domain.ErrPermanent
}

// ---------------------------------------------------------------- tests

func TestNewImporterRequires(t *testing.T) {
	if _, err := NewImporter(testImportOptions(), ImportDeps{}); err == nil {
		t.Fatal("no error without dependencies")
	}
	f := newImportFixture(t, testImportOptions())
	opt := testImportOptions()
	opt.MaxPages = 0
	if _, err := NewImporter(opt, ImportDeps{Stores: f.stores, Marketplaces: f.mkts, Orders: f.orders}); err == nil {
		t.Fatal("no error with MaxPages 0")
	}
}

func TestImportWebhook(t *testing.T) {
	tests := []struct {
		name       string
		w          WebhookDelivery
		ordersErr  error
		lookErr    error
		wantCalls  int
		wantErr    func(error) bool
		wantCancel bool
		outcome    string
	}{
		{name: "orders/create imports", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")},
			wantCalls: 1, outcome: "imported"},
		{name: "orders/paid imports", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/paid", Body: []byte("ready")},
			wantCalls: 1, outcome: "imported"},
		{name: "an unpaid order is skipped", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/updated", Body: []byte("unpaid")},
			outcome: "skipped"},
		{name: "a cancellation goes through unpaid", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/cancelled", Body: []byte("cancelled")},
			wantCalls: 1, wantCancel: true, outcome: "ignored"},
		{name: "app/uninstalled does nothing", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "app/uninstalled", Body: []byte("{")},
			outcome: "ignored"},
		{name: "an unknown topic does nothing", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "products/update", Body: []byte("{")},
			outcome: "ignored"},
		{name: "an unparseable body is permanent", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("{garbage")},
			wantErr: func(err error) bool { return errors.Is(err, ErrUnparseable) }, outcome: "failed"},
		{name: "a marketplace without webhooks is permanent", w: WebhookDelivery{StoreID: "s2", Marketplace: domain.Etsy, Topic: "orders/create", Body: []byte("ready")},
			wantErr: func(err error) bool { return errors.Is(err, ErrUnparseable) }},
		{name: "an unknown store is unusable", w: WebhookDelivery{StoreID: "nope", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")},
			wantErr: func(err error) bool { return errors.Is(err, domain.ErrStoreUnusable) }},
		{name: "a store of another marketplace is unusable", w: WebhookDelivery{StoreID: "s2", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")},
			wantErr: func(err error) bool { return errors.Is(err, domain.ErrStoreUnusable) }},
		{name: "the catalog down is retried", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")},
			lookErr: errors.New("catalog down"), wantErr: func(err error) bool { return err != nil && !domain.IsPermanent(err) }},
		{name: "orders down is retried", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")},
			ordersErr: retryable(), wantCalls: 1, wantErr: domain.IsRetryable},
		{name: "an order refused is permanent", w: WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")},
			ordersErr: rejected{}, wantCalls: 1, wantErr: domain.IsPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newImportFixture(t, testImportOptions())
			f.stores.lookErr = tt.lookErr
			if tt.ordersErr != nil {
				f.orders.errs["1001"] = tt.ordersErr
			}
			var before float64
			if tt.outcome != "" {
				before = testutil.ToFloat64(importsTotal.WithLabelValues(string(tt.w.Marketplace), "webhook", tt.outcome))
			}
			err := f.im.ImportWebhook(context.Background(), tt.w)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("ImportWebhook: %v", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("ImportWebhook: unexpected error %v", err)
			}
			if got := len(f.orders.calls); got != tt.wantCalls {
				t.Fatalf("ImportOrder calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantCalls > 0 {
				c := f.orders.calls[0]
				if c.Store.OwnerID != "u1" || c.Store.ID != "s1" || c.Order.Cancelled != tt.wantCancel {
					t.Fatalf("imported %+v", c)
				}
			}
			if tt.outcome != "" {
				if got := testutil.ToFloat64(importsTotal.WithLabelValues(string(tt.w.Marketplace), "webhook", tt.outcome)) - before; got != 1 {
					t.Fatalf("imports_total{outcome=%s} grew by %v", tt.outcome, got)
				}
			}
		})
	}
}

func TestImportWebhookTwiceIsOneOrder(t *testing.T) {
	f := newImportFixture(t, testImportOptions())
	w := WebhookDelivery{StoreID: "s1", Marketplace: domain.Shopify, Topic: "orders/create", Body: []byte("ready")}
	before := testutil.ToFloat64(importsTotal.WithLabelValues("shopify", "webhook", "duplicate"))
	for range 3 {
		if err := f.im.ImportWebhook(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(importsTotal.WithLabelValues("shopify", "webhook", "duplicate")) - before; got != 2 {
		t.Fatalf("duplicates = %v, want 2", got)
	}
}

func TestPollStore(t *testing.T) {
	page := func(cursor string, more bool, ids ...string) domain.OrderPage {
		p := domain.OrderPage{Cursor: cursor, More: more}
		for _, id := range ids {
			p.Orders = append(p.Orders, order(id, id != "unpaid"))
		}
		return p
	}
	tests := []struct {
		name      string
		cursor    string
		pages     map[string]domain.OrderPage
		pollErrs  map[string]error
		orderErrs map[string]error
		maxPages  int
		wantErr   bool
		wantIDs   []string
		wantSaved []string
	}{
		{name: "pages until the last, then saves its cursor",
			pages:   map[string]domain.OrderPage{"": page("c1", true, "1", "2"), "c1": page("c2", true, "3"), "c2": page("c3", false, "4")},
			wantIDs: []string{"1", "2", "3", "4"}, wantSaved: []string{"c3"}},
		{name: "resumes from the store's cursor", cursor: "c2",
			pages:   map[string]domain.OrderPage{"c2": page("c3", false, "4")},
			wantIDs: []string{"4"}, wantSaved: []string{"c3"}},
		{name: "an empty page keeps the cursor", cursor: "c9",
			pages:     map[string]domain.OrderPage{"c9": {}},
			wantSaved: []string{"c9"}},
		{name: "orders not ready are skipped",
			pages:   map[string]domain.OrderPage{"": page("c1", false, "unpaid", "5")},
			wantIDs: []string{"5"}, wantSaved: []string{"c1"}},
		{name: "a poll failing half way saves nothing",
			pages:    map[string]domain.OrderPage{"": page("c1", true, "1")},
			pollErrs: map[string]error{"c1": retryable()},
			wantErr:  true, wantIDs: []string{"1"}},
		{name: "an import failing stops the poll unsaved",
			pages:     map[string]domain.OrderPage{"": page("c1", false, "1", "2", "3")},
			orderErrs: map[string]error{"2": retryable()},
			wantErr:   true, wantIDs: []string{"1", "2"}},
		{name: "an order refused as invalid is passed over",
			pages:     map[string]domain.OrderPage{"": page("c1", false, "1", "2", "3")},
			orderErrs: map[string]error{"2": rejected{}},
			wantIDs:   []string{"1", "2", "3"}, wantSaved: []string{"c1"}},
		{name: "pages per round are bounded; the rest is read next round", maxPages: 2,
			pages:   map[string]domain.OrderPage{"": page("c1", true, "1"), "c1": page("c2", true, "2"), "c2": page("c3", false, "3")},
			wantIDs: []string{"1", "2"}, wantSaved: []string{"c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := testImportOptions()
			if tt.maxPages > 0 {
				opt.MaxPages = tt.maxPages
			}
			f := newImportFixture(t, opt)
			f.mkts.pages["s1"] = tt.pages
			for c, err := range tt.pollErrs {
				f.mkts.errs["s1/"+c] = err
			}
			for id, err := range tt.orderErrs {
				f.orders.errs[id] = err
			}
			err := f.im.PollStore(context.Background(), f.stores.stores["s1"], tt.cursor)
			if (err != nil) != tt.wantErr {
				t.Fatalf("PollStore: %v, want error %v", err, tt.wantErr)
			}
			if got := f.orders.ids(); !slices.Equal(got, tt.wantIDs) {
				t.Fatalf("imported %v, want %v", got, tt.wantIDs)
			}
			if got := f.stores.savedCursors("s1"); !slices.Equal(got, tt.wantSaved) {
				t.Fatalf("saved %q, want %q", got, tt.wantSaved)
			}
			// The first poll starts Lookback ago; later ones at the cursor.
			want := time.Time{}
			if tt.cursor == "" {
				want = importNow.Add(-72 * time.Hour)
			}
			if f.mkts.sinces[0] != want {
				t.Fatalf("since = %v, want %v", f.mkts.sinces[0], want)
			}
		})
	}
}

func TestPollStoreImportsWithStoreOwnerAndPayment(t *testing.T) {
	f := newImportFixture(t, testImportOptions())
	f.mkts.pages["s2"] = map[string]domain.OrderPage{"": {Orders: []domain.ExternalOrder{order("r1", true)}, Cursor: "c1"}}
	if err := f.im.PollStore(context.Background(), f.stores.stores["s2"], ""); err != nil {
		t.Fatal(err)
	}
	c := f.orders.calls[0]
	if c.Store.OwnerID != "u2" || c.Store.PaymentMethod != "invoice" || c.Store.Marketplace != domain.Etsy {
		t.Fatalf("imported for %+v", c.Store)
	}
}

func TestRound(t *testing.T) {
	f := newImportFixture(t, testImportOptions())
	last := importNow.Add(-10 * time.Minute)
	f.stores.list = []ImportStore{
		{ID: "s1", Marketplace: domain.Shopify, LastImportAt: last},
		{ID: "s2", Marketplace: domain.Etsy, Cursor: "e1", CreatedAt: importNow.Add(-time.Hour)},
	}
	f.mkts.pages["s1"] = map[string]domain.OrderPage{"": {Orders: []domain.ExternalOrder{order("1", true)}, Cursor: "c1"}}
	f.mkts.errs["s2/e1"] = retryable()

	okBefore := testutil.ToFloat64(importPolls.WithLabelValues("shopify", "ok"))
	failedBefore := testutil.ToFloat64(importPolls.WithLabelValues("etsy", "failed"))
	f.im.Round(context.Background())
	if got := f.stores.savedCursors("s1"); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("s1 saved %q", got)
	}
	if got := f.stores.savedCursors("s2"); got != nil {
		t.Fatalf("s2 saved %q after a failed poll", got)
	}
	if got := testutil.ToFloat64(importPolls.WithLabelValues("shopify", "ok")) - okBefore; got != 1 {
		t.Fatalf("polls ok = %v", got)
	}
	if got := testutil.ToFloat64(importPolls.WithLabelValues("etsy", "failed")) - failedBefore; got != 1 {
		t.Fatalf("polls failed = %v", got)
	}
	// s1 was just polled; s2 never was: its lag runs from its creation.
	if got := testutil.ToFloat64(importLag.WithLabelValues("shopify")); got != 0 {
		t.Fatalf("s1 lag = %v after a poll", got)
	}
	if got := testutil.ToFloat64(importLag.WithLabelValues("etsy")); got != 3600 {
		t.Fatalf("s2 lag = %v", got)
	}

	// A store left out of the list (reconnection needed, deleted) no longer
	// counts, and a marketplace without stores loses its gauge; the next round counts s1's lag from this process's poll.
	f.stores.mu.Lock()
	f.stores.list = f.stores.list[:1]
	f.stores.mu.Unlock()
	f.im.updateLag(f.stores.list)
	f.im.mu.Lock()
	_, kept := f.im.known["s2"]
	_, gauge := f.im.lagged["etsy"]
	f.im.mu.Unlock()
	if kept || gauge {
		t.Fatal("s2, the only Etsy store, kept its lag after it left the list")
	}
}

func TestLagGrowsWhileTheCatalogCannotList(t *testing.T) {
	now := importNow
	f := newImportFixture(t, testImportOptions())
	f.im.d.Now = func() time.Time { return now }
	f.stores.list = []ImportStore{{ID: "s9", Marketplace: domain.Amazon, LastImportAt: importNow.Add(-time.Minute)}}
	f.mkts.errs["s9/"] = retryable()
	f.stores.stores["s9"] = domain.Store{ID: "s9", Marketplace: domain.Amazon}
	f.im.Round(context.Background())
	if got := testutil.ToFloat64(importLag.WithLabelValues("amazon")); got != 60 {
		t.Fatalf("lag = %v, want 60", got)
	}
	f.stores.listErr = errors.New("catalog down")
	now = importNow.Add(20 * time.Minute)
	f.im.Round(context.Background())
	if got := testutil.ToFloat64(importLag.WithLabelValues("amazon")); got != 21*60 {
		t.Fatalf("lag = %v, want %v while the catalog is down", got, 21*60)
	}
}

func TestRoundSkipsStoresLockedByAnotherReplica(t *testing.T) {
	f := newImportFixture(t, testImportOptions())
	f.stores.list = []ImportStore{{ID: "s1", Marketplace: domain.Shopify}}
	f.mkts.pages["s1"] = map[string]domain.OrderPage{"": {Cursor: "c1"}}
	release, ok, _ := f.locks.TryLock(context.Background(), "import/s1")
	if !ok {
		t.Fatal("lock not taken")
	}
	before := testutil.ToFloat64(importPolls.WithLabelValues("shopify", "locked"))
	f.im.Round(context.Background())
	if n := f.mkts.polls.Load(); n != 0 {
		t.Fatalf("polled %d times while another replica held the store", n)
	}
	if got := testutil.ToFloat64(importPolls.WithLabelValues("shopify", "locked")) - before; got != 1 {
		t.Fatalf("polls locked = %v", got)
	}
	release()
	f.im.Round(context.Background())
	if n := f.mkts.polls.Load(); n != 1 {
		t.Fatalf("polled %d times once the lock was free", n)
	}
}

func TestRoundBoundsConcurrency(t *testing.T) {
	opt := testImportOptions()
	opt.Concurrency = 3
	f := newImportFixture(t, opt)
	f.mkts.delay = 30 * time.Millisecond
	for i := range 12 {
		id := fmt.Sprintf("x%d", i)
		f.stores.stores[id] = domain.Store{ID: id, Marketplace: domain.Amazon, OwnerID: "u3"}
		f.stores.list = append(f.stores.list, ImportStore{ID: id, Marketplace: domain.Amazon})
	}
	f.im.Round(context.Background())
	if n := f.mkts.polls.Load(); n != 12 {
		t.Fatalf("polled %d stores, want 12", n)
	}
	if m := f.mkts.maxIn.Load(); m > 3 || m < 2 {
		t.Fatalf("at most %d polls at once, want up to 3", m)
	}
}

func TestRoundMarksStoresRefusingCredentials(t *testing.T) {
	f := newImportFixture(t, testImportOptions())
	f.stores.list = []ImportStore{{ID: "s1", Marketplace: domain.Shopify}}
	f.mkts.errs["s1/"] = &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonAuth, Marketplace: domain.Shopify,
		Op: "poll orders", Status: 401, Message: "invalid token"}
	f.im.Round(context.Background())
	if _, ok := f.recon.marked["s1"]; !ok {
		t.Fatal("store not marked as needing reconnection")
	}
}

func TestRunPollsUntilCancelled(t *testing.T) {
	opt := testImportOptions()
	opt.PollEvery = 20 * time.Millisecond
	f := newImportFixture(t, opt)
	f.stores.list = []ImportStore{{ID: "s1", Marketplace: domain.Shopify}}
	f.mkts.pages["s1"] = map[string]domain.OrderPage{"": {Cursor: "c1"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.im.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.stores.savedCursors("s1")) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 3 rounds in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// A store whose poll waits (Amazon's getOrders budget refills once a minute)
// holds back no other store: rounds go on starting the others' polls and
// skip the one still running.
func TestRunPollsOtherStoresWhileOneIsSlow(t *testing.T) {
	opt := testImportOptions()
	opt.PollEvery = 20 * time.Millisecond
	f := newImportFixture(t, opt)
	f.stores.list = []ImportStore{{ID: "s1", Marketplace: domain.Shopify}, {ID: "s2", Marketplace: domain.Etsy}}
	f.mkts.pages["s1"] = map[string]domain.OrderPage{"": {Cursor: "c1"}}
	f.mkts.pages["s2"] = map[string]domain.OrderPage{"": {Cursor: "c2"}}
	slow := make(chan struct{})
	f.mkts.hold = map[string]chan struct{}{"s1": slow}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.im.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.stores.savedCursors("s2")) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the other store was polled fewer than 3 times in 5s while one poll waited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(f.stores.savedCursors("s1")); n != 0 {
		t.Fatalf("the waiting store saved %d cursors", n)
	}
	if m := f.mkts.maxIn.Load(); m > 2 {
		t.Fatalf("%d polls at once: the waiting store was polled again while its poll ran", m)
	}
	close(slow)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(f.stores.savedCursors("s1")); n != 1 {
		t.Fatalf("the waiting store saved %d cursors once released, want 1", n)
	}
}

// A poll refused by its own rate budget (no room before the deadline) is no
// failure: the store rests for the wait the budget named, and rounds skip it
// until then.
func TestRoundRestsAStoreWhoseBudgetHasNoRoom(t *testing.T) {
	f := newImportFixture(t, testImportOptions())
	now := importNow
	f.im.d.Now = func() time.Time { return now }
	f.stores.list = []ImportStore{{ID: "s1", Marketplace: domain.Amazon}}
	f.stores.stores["s1"] = domain.Store{ID: "s1", Marketplace: domain.Amazon, OwnerID: "u1"}
	f.mkts.errs["s1/"] = &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonBudget, Marketplace: domain.Amazon,
		Op: "wait for budget", Message: "no room in the rate budget before the deadline", RetryAfter: 40 * time.Second}
	f.im.Round(context.Background())
	f.im.Round(context.Background())
	if n := f.mkts.polls.Load(); n != 1 {
		t.Fatalf("polled %d times while resting, want 1", n)
	}
	now = now.Add(41 * time.Second)
	delete(f.mkts.errs, "s1/")
	f.mkts.pages["s1"] = map[string]domain.OrderPage{"": {Cursor: "c1"}}
	f.im.Round(context.Background())
	if n := f.mkts.polls.Load(); n != 2 || len(f.stores.savedCursors("s1")) != 1 {
		t.Fatalf("after the rest: %d polls, cursors %v", n, f.stores.savedCursors("s1"))
	}
}
