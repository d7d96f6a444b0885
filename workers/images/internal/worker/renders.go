package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// PrintKeys are where an order item's outputs live in the renders bucket.
type PrintKeys struct {
	PrintFile, Mockup string
}

// KeysForItem returns the output keys of one order item.
func KeysForItem(orderID, itemID string) PrintKeys {
	base := "orders/" + orderID + "/" + itemID + "/"
	return PrintKeys{PrintFile: base + "print.png", Mockup: base + "mockup.jpg"}
}

// HandleOrderPaid renders the print file and mockup of every item that
// carries a design, then publishes PrintFilesReady. Items without a design
// (blank products) have nothing to print and are left out of the event.
func (w *Worker) HandleOrderPaid(ctx context.Context, d amqp.Delivery) error {
	var ev eventsv1.OrderPaid
	if err := proto.Unmarshal(d.Body, &ev); err != nil {
		return amqp.Permanent(fmt.Errorf("decode OrderPaid: %w", err))
	}
	if err := checkID("order_id", ev.GetOrderId()); err != nil {
		return amqp.Permanent(fmt.Errorf("OrderPaid: %w", err))
	}
	out := &eventsv1.PrintFilesReady{OrderId: ev.GetOrderId()}
	for _, it := range ev.GetRenderItems() {
		if it.GetDesignKey() == "" {
			continue
		}
		start := time.Now()
		pf, err := w.RenderItem(ctx, ev.GetOrderId(), it)
		if err != nil {
			jobDuration.WithLabelValues(kindPrintFile, outcomeError).Observe(time.Since(start).Seconds())
			return fmt.Errorf("order %s item %s: %w", ev.GetOrderId(), it.GetItemId(), err)
		}
		jobDuration.WithLabelValues(kindPrintFile, outcomeOK).Observe(time.Since(start).Seconds())
		out.Files = append(out.Files, pf)
	}
	if err := w.publish(ctx, d, TypePrintFilesReady, out); err != nil {
		return fmt.Errorf("order %s: %w", ev.GetOrderId(), err)
	}
	w.log.InfoContext(ctx, "print files ready", "order_id", ev.GetOrderId(), "files", len(out.Files))
	return nil
}

// RenderItem writes one item's print file and mockup. Errors that no retry
// can fix (a bad placement, a missing or broken design master) are marked
// amqp.Permanent so the message goes to the DLQ for an operator.
func (w *Worker) RenderItem(ctx context.Context, orderID string, it *eventsv1.RenderItem) (*eventsv1.PrintFile, error) {
	if err := checkID("item_id", it.GetItemId()); err != nil {
		return nil, amqp.Permanent(err)
	}
	pl := it.GetPlacement()
	if pl == nil {
		return nil, amqp.Permanent(errors.New("render item has no placement"))
	}
	dpi := int(pl.GetRecommendedDpi())
	if dpi <= 0 {
		dpi = int(pl.GetMinDpi())
	}
	if dpi <= 0 {
		dpi = w.opt.DefaultDPI
	}
	spec, err := render.PrintSpecFor(pl.GetWidthIn(), pl.GetHeightIn(), dpi)
	if err != nil {
		return nil, amqp.Permanent(err)
	}
	canvas := inspect.Header{Format: inspect.PNG, Width: spec.WidthPx, Height: spec.HeightPx}
	if err := w.opt.limits().Allow(canvas); err != nil {
		return nil, amqp.Permanent(fmt.Errorf("print area %gx%g in at %d DPI: %w", pl.GetWidthIn(), pl.GetHeightIn(), dpi, err))
	}

	release, err := w.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	design, err := w.loadImage(ctx, w.opt.RendersBucket, it.GetDesignKey())
	if err != nil {
		return nil, fmt.Errorf("design master: %w", err)
	}
	defer design.Close()
	var product *render.Image
	if key := it.GetProductImageKey(); key != "" {
		product, err = w.loadImage(ctx, w.opt.ProductImagesBucket, key)
		if amqp.IsPermanent(err) {
			// A missing or unusable product photo still gets a mockup,
			// on the generated silhouette.
			w.log.WarnContext(ctx, "product image unusable, using the silhouette", "key", key, "err", err)
			product = nil
		} else if err != nil {
			return nil, fmt.Errorf("product image: %w", err)
		}
		defer product.Close()
	}

	printFile, err := design.PrintFile(spec)
	if err != nil {
		return nil, err
	}
	mockup, err := design.Mockup(product, render.MockupSpec{
		Size: w.opt.MockupSize, AreaAspect: pl.GetWidthIn() / pl.GetHeightIn(), Format: render.FormatJPEG,
	})
	if err != nil {
		return nil, err
	}
	keys := KeysForItem(orderID, it.GetItemId())
	if err := w.put(ctx, w.opt.RendersBucket, keys.PrintFile, printFile, "image/png"); err != nil {
		return nil, err
	}
	if err := w.put(ctx, w.opt.RendersBucket, keys.Mockup, mockup, render.FormatJPEG.ContentType()); err != nil {
		return nil, err
	}
	return &eventsv1.PrintFile{
		ItemId: it.GetItemId(), PrintFileKey: keys.PrintFile, MockupKey: keys.Mockup,
		WidthPx: int32(spec.WidthPx), HeightPx: int32(spec.HeightPx), Dpi: int32(dpi),
	}, nil
}

// loadImage fetches, inspects and decodes an image the worker did not just
// receive from a user (a design master, a product photo): the same gate
// applies. Problems with the object itself are amqp.Permanent.
func (w *Worker) loadImage(ctx context.Context, bucket, key string) (*render.Image, error) {
	b, err := w.get(ctx, bucket, key)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooLarge) {
		return nil, amqp.Permanent(err)
	} else if err != nil {
		return nil, err
	}
	hdr, err := inspect.Check(b, w.opt.limits())
	if err != nil {
		return nil, amqp.Permanent(fmt.Errorf("%s/%s: %w", bucket, key, err))
	}
	im, err := render.Load(b, hdr)
	if render.IsDecodeError(err) {
		return nil, amqp.Permanent(fmt.Errorf("%s/%s: %w", bucket, key, err))
	}
	return im, err
}
