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

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Pusher pushes one shipment's tracking to a store's marketplace. A push of the same
// shipment again is safe: it leaves one effective push at the marketplace.
type Pusher interface {
	PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error)
}

// Router sends each push to the Pusher of the store's marketplace, pointed at
// that marketplace's configured endpoints. The zero value has no adapters.
type Router struct {
	Pushers   map[domain.Marketplace]Pusher
	Endpoints Endpoints
}

var _ app.Marketplaces = Router{}

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
