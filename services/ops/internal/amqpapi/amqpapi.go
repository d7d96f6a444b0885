// Package amqpapi is the ops service's side of the broker: the handler that
// parks what each <queue>.dlq receives, and the replayer that publishes a
// dead letter straight to its consumer queue again.
package amqpapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/services/ops/internal/app"
	"github.com/printfleet/printfleet/services/ops/internal/domain"
)

// Parker is the use case the handler calls.
type Parker interface {
	Park(ctx context.Context, in app.Incoming) error
}

// Handler parks the deliveries of amqp.DLQName(queue). It is acked only
// once the letter is stored; a database outage holds it (Unavailable).
func Handler(p Parker, queue string) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		return p.Park(ctx, ToIncoming(queue, d))
	}
}

// ToIncoming reads a dead letter: its failure reason (the consumer's error
// when it recorded one, else the broker's x-death reason), its attempts,
// and its own headers without the broker's and the failure's.
func ToIncoming(queue string, d amqp.Delivery) app.Incoming {
	in := app.Incoming{
		Queue: queue, MessageID: d.ID, Type: d.Type, Body: d.Body, MessageTime: d.Timestamp,
		Headers: map[string]string{},
	}
	var death amqp091.Table
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		death, _ = deaths[0].(amqp091.Table)
	}
	if e, ok := d.Headers[amqp.HeaderError].(string); ok && e != "" {
		in.Reason = e
	} else if r, ok := death["reason"].(string); ok {
		in.Reason = r
	}
	in.Attempts = intOf(d.Headers[amqp.HeaderAttempts])
	if in.Attempts == 0 {
		in.Attempts = intOf(death["count"])
	}
	for k, v := range d.Headers {
		if brokerHeader(k) {
			continue
		}
		in.Headers[k] = text(v)
	}
	return in
}

// brokerHeader reports the headers a replay must not send again: the
// broker's dead-lettering record and the failure's own.
func brokerHeader(k string) bool {
	return k == "x-death" || k == "x-delivery-count" || strings.HasPrefix(k, "x-first-death-") ||
		strings.HasPrefix(k, "x-last-death-") || strings.HasPrefix(k, "x-printfleet-")
}

func intOf(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	case int16:
		return int(n)
	case int8:
		return int(n)
	case int:
		return n
	case uint8:
		return int(n)
	}
	return 0
}

func text(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	case time.Time:
		return s.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

// Replayer publishes dead letters through the default exchange straight to
// their consumer queue, so that only that consumer gets them again.
type Replayer struct{ pub *amqp.Publisher }

var _ app.Replayer = (*Replayer)(nil)

// NewReplayer returns a Replayer on conn.
func NewReplayer(conn *amqp.Conn) *Replayer {
	return &Replayer{pub: amqp.NewPublisherTo(conn, "")}
}

// Replay implements app.Replayer: every letter keeps its message id, type,
// body and headers, and the replay continues the message's own trace.
func (r *Replayer) Replay(ctx context.Context, ls []*domain.DeadLetter) error {
	msgs := make([]amqp.Message, len(ls))
	for i, l := range ls {
		headers := make(map[string]any, len(l.Headers))
		for k, v := range l.Headers {
			headers[k] = v
		}
		msgs[i] = amqp.Message{
			ID: l.MessageID, Type: l.Type, RoutingKey: l.Queue, Body: l.Body, Headers: headers,
			Timestamp: l.MessageTime, ContentType: l.ContentType,
		}
	}
	// Publish starts its span from ctx and injects it into the headers:
	// give it the message's trace, so the replay joins the order's trace.
	if len(ls) == 1 {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(ls[0].Headers))
	}
	return r.pub.Publish(ctx, msgs...)
}

// Close closes the replayer's channel.
func (r *Replayer) Close() error { return r.pub.Close() }
