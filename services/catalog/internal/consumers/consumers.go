// Package consumers turns RabbitMQ deliveries into catalog use cases: stock
// reservations (catalog.stock), projections (catalog.projector) and design
// verdicts (catalog.designs). A payload that cannot be decoded goes to the
// dead-letter queue at once; any other failure is retried.
package consumers

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

func decode(d amqp.Delivery, m proto.Message) error {
	if d.ID == "" {
		return amqp.Permanent(fmt.Errorf("%s without a message id", d.Type))
	}
	if err := proto.Unmarshal(d.Body, m); err != nil {
		return amqp.Permanent(fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err))
	}
	return nil
}

// StockKeys are the routing keys of the stock consumer.
var StockKeys = []string{app.EventOrderPlaced, app.EventOrderCancelled, app.EventPaymentFailed}

// Stock handles OrderPlaced, OrderCancelled and PaymentFailed.
func Stock(s *app.Stock) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		switch d.Type {
		case app.EventOrderPlaced:
			var m eventsv1.OrderPlaced
			if err := decode(d, &m); err != nil {
				return err
			}
			if m.GetOrderId() == "" {
				return amqp.Permanent(fmt.Errorf("order placed %s without an order id", d.ID))
			}
			items := make([]domain.OrderItem, len(m.GetItems()))
			for i, it := range m.GetItems() {
				items[i] = domain.OrderItem{VariantID: it.GetVariantId(), Quantity: int64(it.GetQuantity())}
			}
			_, err := s.Reserve(ctx, d.ID, m.GetOrderId(), items)
			return err
		case app.EventOrderCancelled:
			var m eventsv1.OrderCancelled
			if err := decode(d, &m); err != nil {
				return err
			}
			_, err := s.Release(ctx, d.ID, m.GetOrderId())
			return err
		case app.EventPaymentFailed:
			var m eventsv1.PaymentFailed
			if err := decode(d, &m); err != nil {
				return err
			}
			_, err := s.Release(ctx, d.ID, m.GetOrderId())
			return err
		}
		return amqp.Permanent(fmt.Errorf("unexpected event type %q", d.Type))
	}
}

// ProjectorKeys are the routing keys of the projector.
var ProjectorKeys = []string{app.EventProductChanged}

// Projector handles ProductChanged.
func Projector(p *app.Projector) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		var m eventsv1.ProductChanged
		if err := decode(d, &m); err != nil {
			return err
		}
		return p.Apply(ctx, m.GetProductId(), m.GetVersion())
	}
}

// DesignKeys are the routing keys of the design consumer.
var DesignKeys = []string{app.EventDesignProcessed}

// Designs handles DesignProcessed.
func Designs(ds *app.Designs) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		var m eventsv1.DesignProcessed
		if err := decode(d, &m); err != nil {
			return err
		}
		var ready bool
		switch m.GetVerdict() {
		case eventsv1.DesignVerdict_DESIGN_VERDICT_READY:
			ready = true
		case eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED:
		default:
			return amqp.Permanent(fmt.Errorf("design processed %s without a verdict", d.ID))
		}
		r := domain.DesignResult{DesignID: m.GetDesignId(), Ready: ready, MasterKey: m.GetMasterKey(),
			ThumbnailKey: m.GetThumbnailKey(), PreviewKey: m.GetPreviewKey(),
			Report: domain.DesignReport{Format: m.GetFormat(), WidthPx: m.GetWidthPx(), HeightPx: m.GetHeightPx(),
				HasAlpha: m.GetHasAlpha(), Problems: m.GetProblems()}}
		for _, p := range m.GetPlacements() {
			r.Report.Placements = append(r.Report.Placements, domain.PlacementVerdict{PlacementID: p.GetPlacementId(),
				Name: p.GetName(), EffectiveDPI: p.GetEffectiveDpi(), Verdict: p.GetVerdict()})
		}
		return ds.ApplyResult(ctx, d.ID, r)
	}
}
