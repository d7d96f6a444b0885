// Package amqpapi is the image worker's message side: it decodes the
// deliveries of the images.designs (DesignUploaded) and images.renders
// (OrderPaid) queues into domain requests and hands them to the use cases.
// A message that cannot be decoded, or asks for something no retry can
// fix, is marked amqp.Permanent and dead-lettered at once; every other
// failure is retried by the broker with backoff.
package amqpapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/domain"
)

// Handlers serve the worker's two queues.
type Handlers struct {
	app *app.App
}

// New returns the handlers calling a.
func New(a *app.App) *Handlers { return &Handlers{app: a} }

// DesignUploaded validates and normalises one uploaded design. A bad image
// is answered with a REJECTED DesignProcessed and acked; a malformed event
// goes to the DLQ; storage or broker trouble returns an error, and the
// delivery is retried.
func (h *Handlers) DesignUploaded(ctx context.Context, d amqp.Delivery) error {
	var ev eventsv1.DesignUploaded
	if err := proto.Unmarshal(d.Body, &ev); err != nil {
		return amqp.Permanent(fmt.Errorf("decode DesignUploaded: %w", err))
	}
	return classify("DesignUploaded", h.app.ValidateDesign(ctx, d.ID, toDomainUpload(&ev)))
}

// OrderPaid renders the print file and mockup of every item that carries a
// design, then publishes PrintFilesReady. A bad item, an impossible
// placement or a missing or broken design master goes to the DLQ for an
// operator.
func (h *Handlers) OrderPaid(ctx context.Context, d amqp.Delivery) error {
	var ev eventsv1.OrderPaid
	if err := proto.Unmarshal(d.Body, &ev); err != nil {
		return amqp.Permanent(fmt.Errorf("decode OrderPaid: %w", err))
	}
	return classify("OrderPaid", h.app.RenderOrder(ctx, d.ID, toDomainRenderJob(&ev)))
}

// classify marks the errors no retry can fix as permanent.
func classify(event string, err error) error {
	if errors.Is(err, domain.ErrInvalid) || errors.Is(err, domain.ErrUnusable) {
		return amqp.Permanent(fmt.Errorf("%s: %w", event, err))
	}
	return err
}

func toDomainUpload(ev *eventsv1.DesignUploaded) domain.DesignUpload {
	return domain.DesignUpload{
		DesignID: ev.GetDesignId(), Bucket: ev.GetBucket(), ObjectKey: ev.GetObjectKey(),
		Placements: toDomainPlacements(ev.GetPlacements()),
	}
}

func toDomainRenderJob(ev *eventsv1.OrderPaid) domain.RenderJob {
	job := domain.RenderJob{OrderID: ev.GetOrderId(), Items: make([]domain.RenderItem, 0, len(ev.GetRenderItems()))}
	for _, it := range ev.GetRenderItems() {
		job.Items = append(job.Items, toDomainRenderItem(it))
	}
	return job
}

func toDomainRenderItem(it *eventsv1.RenderItem) domain.RenderItem {
	out := domain.RenderItem{
		ItemID: it.GetItemId(), DesignID: it.GetDesignId(), DesignKey: it.GetDesignKey(),
		ProductImageKey: it.GetProductImageKey(),
	}
	if p := it.GetPlacement(); p != nil {
		pl := toDomainPlacement(p)
		out.Placement = &pl
	}
	return out
}

func toDomainPlacements(ps []*eventsv1.PlacementSpec) []domain.Placement {
	out := make([]domain.Placement, 0, len(ps))
	for _, p := range ps {
		out = append(out, toDomainPlacement(p))
	}
	return out
}

func toDomainPlacement(p *eventsv1.PlacementSpec) domain.Placement {
	return domain.Placement{
		ID: p.GetPlacementId(), Name: p.GetName(),
		WidthIn: p.GetWidthIn(), HeightIn: p.GetHeightIn(),
		MinDPI: int(p.GetMinDpi()), RecommendedDPI: int(p.GetRecommendedDpi()),
	}
}
