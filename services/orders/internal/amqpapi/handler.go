// Package amqpapi is the orders worker's message transport: it decodes the
// deliveries of the orders.worker queue (eventsv1.QueueOrdersWorker) and
// hands them to app.Worker. Undecodable or unexpected messages are
// dead-lettered at once; everything else that fails is retried by the
// broker (with backoff) and dead-lettered after the queue's delivery limit.
package amqpapi

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// RoutingKeys are bound to the worker's queue: exactly the keys Handler
// handles. The worker also consumes orders' own OrderCancelled to refund
// paid orders off the request path.
var RoutingKeys = []string{
	eventsv1.KeyStockReserved, eventsv1.KeyStockRejected, eventsv1.KeyPrintFilesReady,
	eventsv1.KeyMarketplacePushed, eventsv1.KeyOrderCancelled,
}

// Handler returns the amqp handler for the worker's queue.
func Handler(w *app.Worker) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		err := handle(ctx, w, d)
		switch {
		case err == nil || amqp.IsPermanent(err):
			return err
		case errs.Is(err, errs.NotFound), errs.Is(err, errs.Invalid):
			// An event about an order we do not have, or one the aggregate
			// refuses as malformed, will not get better with retries.
			return amqp.Permanent(err)
		}
		return err
	}
}

func decode(d amqp.Delivery, m proto.Message, orderID func() string) error {
	if err := proto.Unmarshal(d.Body, m); err != nil {
		return amqp.Permanent(fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err))
	}
	if !domain.IsUUID(orderID()) {
		return amqp.Permanent(fmt.Errorf("%s %s: order id %q is not a uuid", d.Type, d.ID, orderID()))
	}
	if d.ID == "" {
		return amqp.Permanent(fmt.Errorf("%s: message has no id", d.Type))
	}
	return nil
}

func handle(ctx context.Context, w *app.Worker, d amqp.Delivery) error {
	switch d.Type {
	case eventsv1.KeyStockReserved:
		var m eventsv1.StockReserved
		if err := decode(d, &m, m.GetOrderId); err != nil {
			return err
		}
		return w.StockReserved(ctx, d.ID, m.GetOrderId())
	case eventsv1.KeyStockRejected:
		var m eventsv1.StockRejected
		if err := decode(d, &m, m.GetOrderId); err != nil {
			return err
		}
		return w.StockRejected(ctx, d.ID, m.GetOrderId(), m.GetReason(), m.GetVariantId())
	case eventsv1.KeyPrintFilesReady:
		var m eventsv1.PrintFilesReady
		if err := decode(d, &m, m.GetOrderId); err != nil {
			return err
		}
		files := map[string]domain.PrintFile{}
		for _, f := range m.GetFiles() {
			files[f.GetItemId()] = domain.PrintFile{Key: f.GetPrintFileKey(), MockupKey: f.GetMockupKey()}
		}
		return w.PrintFilesReady(ctx, d.ID, m.GetOrderId(), files)
	case eventsv1.KeyMarketplacePushed:
		var m eventsv1.MarketplacePushed
		if err := decode(d, &m, m.GetOrderId); err != nil {
			return err
		}
		return w.MarketplacePushed(ctx, d.ID, app.MarketplacePush{
			OrderID: m.GetOrderId(), ShipmentID: m.GetShipmentId(), StoreID: m.GetStoreId(),
			Marketplace: m.GetMarketplace(), Succeeded: m.GetOutcome() == eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED,
			Attempts: m.GetAttempts(), HTTPStatus: m.GetHttpStatus(), Message: m.GetMessage(), ReceiptKey: m.GetReceiptKey(),
		})
	case eventsv1.KeyOrderCancelled:
		var m eventsv1.OrderCancelled
		if err := decode(d, &m, m.GetOrderId); err != nil {
			return err
		}
		return w.OrderCancelled(ctx, d.ID, m.GetOrderId(), m.GetWasPaid())
	}
	return amqp.Permanent(fmt.Errorf("unexpected message type %q", d.Type))
}
