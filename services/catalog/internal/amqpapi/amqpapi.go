// Package amqpapi turns RabbitMQ deliveries into catalog use cases: stock
// reservations (catalog.stock), projections (catalog.projector) and design
// verdicts (catalog.designs). It decodes the event protos into domain values
// and classifies failures: a payload that cannot be decoded goes to the
// dead-letter queue at once; any other failure is retried. The inbox records
// each message under its queue's name (eventsv1.Queue…).
package amqpapi

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
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

// StockKeys are the routing keys of the stock consumer: every OrderPlaced
// (with a coupon or not), OrderCancelled and PaymentFailed.
var StockKeys = []string{eventsv1.KeyOrderPlaced, eventsv1.KeyOrderPlacedCoupon, eventsv1.KeyOrderCancelled, eventsv1.KeyPaymentFailed}

// Stock handles OrderPlaced, OrderCancelled and PaymentFailed.
func Stock(s *app.Stock) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		msg := app.InboxClaim{Consumer: eventsv1.QueueCatalogStock, MessageID: d.ID}
		switch d.Type {
		case eventsv1.KeyOrderPlaced, eventsv1.KeyOrderPlacedCoupon:
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
			_, err := s.Reserve(ctx, msg, m.GetOrderId(), items)
			return err
		case eventsv1.KeyOrderCancelled:
			var m eventsv1.OrderCancelled
			if err := decode(d, &m); err != nil {
				return err
			}
			_, err := s.Release(ctx, msg, m.GetOrderId())
			return err
		case eventsv1.KeyPaymentFailed:
			var m eventsv1.PaymentFailed
			if err := decode(d, &m); err != nil {
				return err
			}
			_, err := s.Release(ctx, msg, m.GetOrderId())
			return err
		}
		return amqp.Permanent(fmt.Errorf("unexpected event type %q", d.Type))
	}
}

// ProjectorKeys are the routing keys of the projector.
var ProjectorKeys = []string{eventsv1.KeyProductChanged}

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
var DesignKeys = []string{eventsv1.KeyDesignProcessed}

// Designs handles DesignProcessed.
func Designs(ds *app.DesignResults) amqp.Handler {
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
		return ds.Apply(ctx, app.InboxClaim{Consumer: eventsv1.QueueCatalogDesigns, MessageID: d.ID}, r)
	}
}
