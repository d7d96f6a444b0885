// Package events announces the marketplace worker's outcomes to the fleet:
// a push's report becomes a MarketplacePushed message
// (proto/printfleet/events/v1), published with broker confirms.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Publisher publishes messages with broker confirms (amqp.Publisher).
type Publisher interface {
	Publish(ctx context.Context, msgs ...amqp.Message) error
}

// Announcer publishes push reports.
type Announcer struct {
	pub Publisher
}

var _ app.Announcer = (*Announcer)(nil)

// NewAnnouncer publishes through pub.
func NewAnnouncer(pub Publisher) *Announcer { return &Announcer{pub: pub} }

// pushNamespace scopes the worker's derived message ids.
var pushNamespace = uuid.MustParse("6f0b7a52-8c1e-4d0f-b4a9-3c2d1e0f9a81")

// Announce publishes r as MarketplacePushed and returns once the broker
// confirmed it. Its message id derives from the store, the shipment and the
// outcome, so every resend that ends the same way republishes the same id and
// the orders worker records it once.
func (a *Announcer) Announce(ctx context.Context, r domain.Report) error {
	ev := toProtoPushed(r)
	body, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", eventsv1.KeyMarketplacePushed, err)
	}
	id := uuid.NewSHA1(pushNamespace, []byte(ev.GetStoreId()+"/"+ev.GetShipmentId()+"/"+ev.GetOutcome().String())).String()
	msg := amqp.Message{ID: id, Type: eventsv1.KeyMarketplacePushed, Body: body, Timestamp: time.Now()}
	if err := a.pub.Publish(ctx, msg); err != nil {
		return fmt.Errorf("publish %s: %w", eventsv1.KeyMarketplacePushed, err)
	}
	return nil
}

func toProtoPushed(r domain.Report) *eventsv1.MarketplacePushed {
	outcome := eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED
	if r.Failed {
		outcome = eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT
	}
	return &eventsv1.MarketplacePushed{
		OrderId: r.OrderID, ShipmentId: r.ShipmentID, StoreId: r.StoreID,
		Marketplace: r.Marketplace, Outcome: outcome, Attempts: int32(r.Attempts),
		HttpStatus: int32(r.HTTPStatus), Message: r.Message, ReceiptKey: r.ReceiptKey,
	}
}
