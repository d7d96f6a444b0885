// Package amqpapi is the webhooks message adapter: the webhooks.notices
// consumer decodes order and design notices, renders the payload sellers
// receive (once per event), and hands them to the fan-out.
package amqpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/restjson"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// RoutingKeys are the notices the webhooks.notices queue binds.
var RoutingKeys = []string{eventsv1.KeyOrderNotice, eventsv1.KeyDesignNotice}

// Fanout turns a notice into deliveries (app.Service).
type Fanout interface {
	Fanout(ctx context.Context, n app.Notice) (int, error)
}

// Handler fans out each notice. An undecodable message, one without an
// owner, or one that cannot be rendered (invalid UTF-8) is dead-lettered at
// once; any other failure is retried by the
// broker (the fan-out is idempotent per message id).
func Handler(f Fanout) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		n, err := notice(d)
		if err != nil {
			return amqp.Permanent(err)
		}
		if _, err := f.Fanout(ctx, n); err != nil {
			return fmt.Errorf("fan out %s %s: %w", n.Type, n.ID, err)
		}
		return nil
	}
}

func notice(d amqp.Delivery) (app.Notice, error) {
	if uuid.Validate(d.ID) != nil {
		return app.Notice{}, fmt.Errorf("%s: message id %q is not a uuid", d.Type, d.ID)
	}
	switch d.Type {
	case eventsv1.KeyOrderNotice:
		var ev eventsv1.OrderNotice
		if err := proto.Unmarshal(d.Body, &ev); err != nil {
			return app.Notice{}, fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err)
		}
		n := app.Notice{ID: d.ID, Type: ev.GetType(), OwnerID: ev.GetOrder().GetUserId(), OccurredAt: occurred(ev.GetOccurredAt().AsTime(), ev.GetOccurredAt() != nil, d),
			OrderID: ev.GetOrder().GetId()}
		n.Render = func() ([]byte, error) { b, err := renderOrder(n, &ev); return b, amqp.Permanent(err) }
		return n, check(n)
	case eventsv1.KeyDesignNotice:
		var ev eventsv1.DesignNotice
		if err := proto.Unmarshal(d.Body, &ev); err != nil {
			return app.Notice{}, fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err)
		}
		n := app.Notice{ID: d.ID, Type: ev.GetType(), OwnerID: ev.GetDesign().GetOwnerId(), OccurredAt: occurred(ev.GetOccurredAt().AsTime(), ev.GetOccurredAt() != nil, d)}
		n.Render = func() ([]byte, error) {
			design, err := restjson.Marshal(ev.GetDesign())
			if err != nil {
				return nil, amqp.Permanent(err)
			}
			return envelope(n, []byte(`{"design":`), design, []byte(`}`))
		}
		return n, check(n)
	}
	return app.Notice{}, fmt.Errorf("unexpected message type %q", d.Type)
}

func occurred(t time.Time, set bool, d amqp.Delivery) time.Time {
	if set {
		return t.UTC()
	}
	return d.Timestamp.UTC()
}

func check(n app.Notice) error {
	if n.OwnerID == "" {
		return fmt.Errorf("%s %s has no owner", n.Type, n.ID)
	}
	if domain.ValidateEventTypes([]string{n.Type}) != nil || n.Type == domain.AllTypes {
		return fmt.Errorf("%s: unknown event type %q", n.ID, n.Type)
	}
	return nil
}

// renderOrder writes data: the order; the shipment for order.shipped and
// order.delivered; the refund for order.refunded.
func renderOrder(n app.Notice, ev *eventsv1.OrderNotice) ([]byte, error) {
	order, err := restjson.Marshal(ev.GetOrder())
	if err != nil {
		return nil, err
	}
	data := append([]byte(`{"order":`), order...)
	if (n.Type == "order.shipped" || n.Type == "order.delivered") && ev.GetShipment() != nil {
		sh, err := restjson.Marshal(ev.GetShipment())
		if err != nil {
			return nil, err
		}
		data = append(append(data, `,"shipment":`...), sh...)
	}
	if n.Type == "order.refunded" && ev.GetRefund() != nil {
		r, err := restjson.Marshal(ev.GetRefund())
		if err != nil {
			return nil, err
		}
		data = append(append(data, `,"refund":`...), r...)
	}
	return envelope(n, data, []byte(`}`))
}

// envelope writes {"id","type","api_version","created_at","data"} around
// the data object's parts.
func envelope(n app.Notice, data ...[]byte) ([]byte, error) {
	b := make([]byte, 0, 1024)
	b = fmt.Appendf(b, `{"id":%q,"type":%q,"api_version":%q,"created_at":%q,"data":`,
		n.ID, n.Type, domain.APIVersion, n.OccurredAt.UTC().Format(time.RFC3339Nano))
	for _, d := range data {
		b = append(b, d...)
	}
	return append(b, '}'), nil
}
