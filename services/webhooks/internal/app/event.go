package app

import "github.com/printfleet/printfleet/services/webhooks/internal/domain"

func eventOf(n Notice, body []byte) domain.Event {
	return domain.Event{ID: n.ID, Type: n.Type, OwnerID: n.OwnerID, OccurredAt: n.OccurredAt, Body: body, OrderID: n.OrderID}
}
