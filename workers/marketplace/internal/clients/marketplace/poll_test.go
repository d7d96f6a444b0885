package marketplace

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// sendingPoller polls with one GET through the shared HTTP client, with a
// trace of its own as the adapters keep.
type sendingPoller struct {
	c     *Client
	store domain.Store
}

func (p *sendingPoller) PollOrders(ctx context.Context, st domain.Store, cursor string, _ time.Time) (domain.OrderPage, error) {
	p.store = st
	if _, err := p.c.Send(ctx, NewTrace(), Request{Op: "getOrders", Method: http.MethodGet, URL: st.BaseURL + "/orders"}); err != nil {
		return domain.OrderPage{}, err
	}
	return domain.OrderPage{Orders: []domain.ExternalOrder{{ExternalID: "1"}}, Cursor: cursor + "+"}, nil
}

func TestRouterPollOrders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }))
	t.Cleanup(srv.Close)
	p := &sendingPoller{c: &Client{HTTP: srv.Client(), Timeout: 5 * time.Second, Marketplace: domain.Amazon}}
	r := Router{Endpoints: Endpoints{ShopifyURL: srv.URL + "/shopify", EtsyURL: srv.URL + "/etsy", AmazonURL: srv.URL + "/amazon"},
		Pollers: map[domain.Marketplace]Poller{domain.Amazon: p}}

	before := testutil.ToFloat64(requestsTotal.WithLabelValues("amazon", "api", "429"))
	throttled := testutil.ToFloat64(throttledTotal.WithLabelValues("amazon"))
	page, err := r.PollOrders(context.Background(), domain.Store{ID: "s1", Marketplace: domain.Amazon}, "c", time.Time{})
	if err != nil || page.Cursor != "c+" || len(page.Orders) != 1 {
		t.Fatalf("PollOrders: %+v, %v", page, err)
	}
	if p.store.BaseURL != srv.URL+"/amazon" {
		t.Fatalf("the adapter polled at %q: the configured endpoint was not applied", p.store.BaseURL)
	}
	if got := testutil.ToFloat64(requestsTotal.WithLabelValues("amazon", "api", "429")) - before; got != 1 {
		t.Fatalf("requests counted: %v, want 1", got)
	}
	if got := testutil.ToFloat64(throttledTotal.WithLabelValues("amazon")) - throttled; got != 1 {
		t.Fatalf("throttled counted: %v, want 1", got)
	}

	// No adapter, or a store its endpoints cannot serve: permanent.
	if _, err := r.PollOrders(context.Background(), domain.Store{Marketplace: domain.Etsy}, "", time.Time{}); !domain.IsPermanent(err) {
		t.Fatalf("no poller: %v", err)
	}
	r.Pollers[domain.Shopify] = p
	if _, err := r.PollOrders(context.Background(), domain.Store{Marketplace: domain.Shopify, ShopID: "evil.example/x"}, "", time.Time{}); !errors.Is(err, domain.ErrStoreUnusable) {
		t.Fatalf("bad shop: %v", err)
	}
}

func TestRouterParseOrderWebhook(t *testing.T) {
	r := Router{Parsers: map[domain.Marketplace]WebhookParser{domain.Shopify: func(b []byte) (domain.ExternalOrder, error) {
		return domain.ExternalOrder{ExternalID: string(b)}, nil
	}}}
	if o, err := r.ParseOrderWebhook(domain.Shopify, []byte("42")); err != nil || o.ExternalID != "42" {
		t.Fatalf("shopify: %+v, %v", o, err)
	}
	if _, err := r.ParseOrderWebhook(domain.Etsy, []byte("42")); !domain.IsPermanent(err) {
		t.Fatalf("etsy: %v", err)
	}
}
