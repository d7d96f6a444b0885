// Package events turns the image worker's results into the fleet's event
// messages (proto/printfleet/events/v1) and publishes them on the routing
// keys defined there. The worker has no outbox: a use case calls the
// Publisher after its S3 writes have returned, and the delivery that asked
// for the work is acked only after the broker has confirmed the event.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/domain"
)

// Sender publishes messages with broker confirms (*amqp.Publisher).
type Sender interface {
	Publish(ctx context.Context, msgs ...amqp.Message) error
}

// Publisher announces results as events.
type Publisher struct {
	send Sender
}

var _ app.Announcer = (*Publisher)(nil)

// NewPublisher returns a Publisher sending through s.
func NewPublisher(s Sender) *Publisher { return &Publisher{send: s} }

// DesignProcessed publishes r as DesignProcessed.
func (p *Publisher) DesignProcessed(ctx context.Context, cause string, r domain.DesignResult) error {
	return p.publish(ctx, cause, eventsv1.KeyDesignProcessed, toProtoDesignProcessed(r))
}

// PrintFilesReady publishes r as PrintFilesReady.
func (p *Publisher) PrintFilesReady(ctx context.Context, cause string, r domain.PrintFiles) error {
	return p.publish(ctx, cause, eventsv1.KeyPrintFilesReady, toProtoPrintFilesReady(r))
}

// publish sends one event whose message id derives from the message it
// answers (cause), so a redelivery republishes the same id and downstream
// inboxes drop the duplicate.
func (p *Publisher) publish(ctx context.Context, cause, key string, ev proto.Message) error {
	body, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", key, err)
	}
	id := uuid.NewString()
	if cause != "" {
		id = uuid.NewSHA1(messageNamespace, []byte(cause+"/"+key)).String()
	}
	if err := p.send.Publish(ctx, amqp.Message{ID: id, Type: key, Body: body, Timestamp: time.Now()}); err != nil {
		return fmt.Errorf("publish %s: %w", key, err)
	}
	return nil
}

// messageNamespace scopes the worker's derived message ids. Changing it
// would give every redelivery after a deploy a new id.
var messageNamespace = uuid.MustParse("5d0c1f8e-3b7a-4c51-9a57-6f1b2e9d4c30")

func toProtoDesignProcessed(r domain.DesignResult) *eventsv1.DesignProcessed {
	rep := r.Report
	out := &eventsv1.DesignProcessed{
		DesignId:  rep.DesignID,
		Verdict:   eventsv1.DesignVerdict_DESIGN_VERDICT_READY,
		Format:    rep.Format,
		WidthPx:   int32(rep.WidthPx),
		HeightPx:  int32(rep.HeightPx),
		HasAlpha:  rep.HasAlpha,
		Problems:  rep.Problems,
		ReportKey: r.ReportKey,
	}
	if !r.Ready() {
		out.Verdict = eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED
	}
	for _, p := range rep.Placements {
		out.Placements = append(out.Placements, &eventsv1.PlacementVerdict{
			PlacementId: p.PlacementID, Name: p.Name, EffectiveDpi: p.EffectiveDPI, Verdict: p.Verdict,
		})
	}
	if o := rep.Outputs; o != nil && r.Ready() {
		out.MasterKey, out.ThumbnailKey, out.PreviewKey = o.Master, o.Thumbnail, o.Preview
	}
	return out
}

func toProtoPrintFilesReady(r domain.PrintFiles) *eventsv1.PrintFilesReady {
	out := &eventsv1.PrintFilesReady{OrderId: r.OrderID}
	for _, f := range r.Files {
		out.Files = append(out.Files, &eventsv1.PrintFile{
			ItemId: f.ItemID, PrintFileKey: f.PrintFileKey, MockupKey: f.MockupKey,
			WidthPx: int32(f.WidthPx), HeightPx: int32(f.HeightPx), Dpi: int32(f.DPI),
		})
	}
	return out
}
