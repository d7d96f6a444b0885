package amqpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// ImportRoutingKeys are bound to the import queue
// (eventsv1.QueueMarketplaceImports).
var ImportRoutingKeys = []string{eventsv1.KeyMarketplaceWebhookReceived}

// ImportHandler returns the import queue's handler: a webhook whose body is
// no order, of a store that is gone, or whose order the orders service
// refused is dead-lettered at once; anything else that fails is retried with
// backoff.
func ImportHandler(im *app.Importer) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		if d.Type != eventsv1.KeyMarketplaceWebhookReceived {
			return amqp.Permanent(fmt.Errorf("unexpected message type %q", d.Type))
		}
		var m eventsv1.MarketplaceWebhookReceived
		if err := decode(d, &m); err != nil {
			return err
		}
		err := im.ImportWebhook(ctx, app.WebhookDelivery{StoreID: m.GetStoreId(), Marketplace: domain.Marketplace(m.GetMarketplace()),
			Topic: m.GetTopic(), WebhookID: m.GetWebhookId(), Body: m.GetBody()})
		if err != nil && (errors.Is(err, app.ErrUnparseable) || errors.Is(err, domain.ErrStoreUnusable) || domain.IsPermanent(err)) {
			return amqp.Permanent(fmt.Errorf("MarketplaceWebhookReceived %s: %w", d.ID, err))
		}
		return err
	}
}
