package etsy

import (
	"context"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// PollOrders returns one page of the store's orders changed since cursor
// ("" = the first poll: start at since).
func (a *Adapter) PollOrders(ctx context.Context, store domain.Store, cursor string, since time.Time) (domain.OrderPage, error) {
	return domain.OrderPage{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Marketplace("etsy"),
		Op: "poll orders", Message: "not built yet"}
}
