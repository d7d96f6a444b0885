// Package marketplace is how the worker pushes a shipment's tracking to the
// marketplace an order came from, and the plumbing every marketplace client
// shares: a rate budget per (marketplace, store), bounded retries that honour
// Retry-After, single-flight OAuth refresh, per-call timeouts and receipts without
// secrets. One sibling package per marketplace (shopify, etsy, amazon) speaks its
// wire format; Router sends each push to the right one, at the endpoints the
// configuration names.
package marketplace

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Pusher pushes one shipment's tracking to a store's marketplace. A push of the same
// shipment again is safe: it leaves one effective push at the marketplace.
type Pusher interface {
	PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error)
}

// Poller reads a store's orders from its marketplace.
type Poller interface {
	// PollOrders returns one page of the store's orders changed since
	// cursor ("" = the first poll: start at since).
	PollOrders(ctx context.Context, store domain.Store, cursor string, since time.Time) (domain.OrderPage, error)
}

// WebhookParser turns a marketplace's orders/* webhook body into an order.
type WebhookParser func(body []byte) (domain.ExternalOrder, error)

// Router sends each push and each poll to the adapter of the store's
// marketplace, pointed at that marketplace's configured endpoints, and each
// webhook to its marketplace's parser. The zero value has no adapters.
type Router struct {
	Pushers   map[domain.Marketplace]Pusher
	Pollers   map[domain.Marketplace]Poller
	Parsers   map[domain.Marketplace]WebhookParser
	Endpoints Endpoints
}

var (
	_ app.Marketplaces = Router{}
	_ app.Importers    = Router{}
)

// PollOrders implements Poller through the store's adapter, counting its
// HTTP calls as pushes' are. A store its marketplace's endpoints cannot
// serve wraps domain.ErrStoreUnusable.
func (r Router) PollOrders(ctx context.Context, store domain.Store, cursor string, since time.Time) (domain.OrderPage, error) {
	p, ok := r.Pollers[store.Marketplace]
	if !ok {
		return domain.OrderPage{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: store.Marketplace,
			Op: "poll orders", Message: fmt.Sprintf("no adapter for marketplace %q", store.Marketplace)}
	}
	store, err := r.Endpoints.apply(store)
	if err != nil {
		return domain.OrderPage{}, err
	}
	tr := NewTrace()
	page, err := p.PollOrders(withObserver(ctx, tr), store, cursor, since)
	res := tr.Result(false, "")
	res.Duration = 0 // the push wait histogram is the pushes' own
	observeCalls(string(store.Marketplace), res)
	return page, err
}

// ParseOrderWebhook parses an orders/* webhook body of marketplace m. A
// marketplace without webhooks, or a body that is no order, is a permanent
// error.
func (r Router) ParseOrderWebhook(m domain.Marketplace, body []byte) (domain.ExternalOrder, error) {
	parse, ok := r.Parsers[m]
	if !ok {
		return domain.ExternalOrder{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: m,
			Op: "parse webhook", Message: fmt.Sprintf("no webhook parser for marketplace %q", m)}
	}
	return parse(body)
}

// PushShipment implements Pusher. A store its marketplace's endpoints cannot
// serve (a Shopify shop that is not a shop name) wraps domain.ErrStoreUnusable
// and never leaves the process.
func (r Router) PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error) {
	p, ok := r.Pushers[store.Marketplace]
	if !ok {
		return domain.Result{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: store.Marketplace,
			Op: "push shipment", Message: fmt.Sprintf("no adapter for marketplace %q", store.Marketplace)}
	}
	store, err := r.Endpoints.apply(store)
	if err != nil {
		return domain.Result{}, err
	}
	res, err := p.PushShipment(ctx, store, s)
	observeCalls(string(store.Marketplace), res)
	return res, err
}

// Carrier is a carrier reduced to a code the adapters map to each marketplace's
// own spelling: usps, ups, fedex, dhl, or the original name.
func Carrier(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.NewReplacer(" ", "", "-", "", "_", "", ".", "").Replace(n)
	switch {
	case n == "usps" || strings.HasPrefix(n, "unitedstatespostal"):
		return "usps"
	case n == "ups" || strings.HasPrefix(n, "unitedparcel"):
		return "ups"
	case strings.HasPrefix(n, "fedex") || n == "federalexpress":
		return "fedex"
	case strings.HasPrefix(n, "dhl"):
		return "dhl"
	}
	return strings.TrimSpace(name)
}
