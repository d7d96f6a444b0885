package amqpapi

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// CatalogRoutingKeys are the events the pricing.catalog queue
// (eventsv1.QueuePricingCatalog) binds: the catalog's variant prices.
var CatalogRoutingKeys = []string{eventsv1.KeyVariantPricesChanged}

// CatalogPrices keeps the catalog's variant prices as default list prices.
type CatalogPrices interface {
	ApplyCatalogPrices(ctx context.Context, caller principal.Principal, in domain.CatalogPricesInput) (app.WriteResult, error)
}

// CatalogHandler writes each announced variant price as the variant's
// default list price (region "*"), unless an admin set the variant's "*"
// price; an announcement older than the one last applied to a variant
// changes nothing, so redeliveries and reordering are harmless. An
// undecodable or invalid announcement is dead-lettered at once; any other
// failure is retried by the broker.
func CatalogHandler(p CatalogPrices, log *slog.Logger) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		if d.Type != eventsv1.KeyVariantPricesChanged {
			return amqp.Permanent(fmt.Errorf("unexpected message type %q", d.Type))
		}
		var ev eventsv1.VariantPricesChanged
		if err := decode(d, &ev); err != nil {
			return err
		}
		in := domain.CatalogPricesInput{ProductID: ev.GetProductId(), Version: ev.GetVersion()}
		for _, v := range ev.GetVariants() {
			vi := domain.CatalogVariantInput{VariantID: v.GetVariantId()}
			if m := v.GetPrice(); m != nil {
				vi.Price = domain.MoneyInput{Set: true, Currency: m.GetCurrency(), Amount: m.GetAmountMinor()}
			}
			in.Variants = append(in.Variants, vi)
		}
		res, err := p.ApplyCatalogPrices(ctx, Consumer, in)
		switch {
		case err == nil:
			log.DebugContext(ctx, "catalog prices applied", "product_id", ev.GetProductId(), "version", ev.GetVersion(), "changed", res.Changed)
			return nil
		case errs.Is(err, errs.Invalid):
			return amqp.Permanent(fmt.Errorf("catalog prices of product %s v%d: %w", ev.GetProductId(), ev.GetVersion(), err))
		}
		return fmt.Errorf("catalog prices of product %s v%d: %w", ev.GetProductId(), ev.GetVersion(), err)
	}
}
