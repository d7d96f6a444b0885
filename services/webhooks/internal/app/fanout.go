package app

import (
	"context"
	"fmt"
	"time"
)

// InboxConsumer names the fan-out in the inbox (processed_messages).
const InboxConsumer = "webhooks.fanout"

// Notice is one order or design notice to fan out. Render writes the
// payload; it is called once, and only when some endpoint wants the event.
type Notice struct {
	ID         string // the message id: the event id
	Type       string
	OwnerID    string
	OccurredAt time.Time
	// OrderID is the order an order notice is about ("" otherwise).
	OrderID string
	Render  func() ([]byte, error)
}

// Fanout turns a notice into one pending delivery per active endpoint of
// its owner that wants its type, and wakes the dispatcher. An owner without
// such an endpoint costs one read and no write. A redelivered message id
// changes nothing (inbox). It returns how many deliveries it created.
func (s *Service) Fanout(ctx context.Context, n Notice) (int, error) {
	es, err := s.o.Store.ActiveEndpoints(ctx, n.OwnerID)
	if err != nil {
		return 0, err
	}
	var ids []string
	for _, e := range es {
		if e.Wants(n.Type) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	body, err := n.Render()
	if err != nil {
		return 0, fmt.Errorf("render %s %s: %w", n.Type, n.ID, err)
	}
	ev := eventOf(n, body)
	first, err := s.o.Store.RecordEvent(ctx, InboxConsumer, ev, ids, s.now().UTC())
	if err != nil || !first {
		return 0, err
	}
	s.Wake()
	return len(ids), nil
}
