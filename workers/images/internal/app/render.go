package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// RenderOrder renders the print file and mockup of every item of a paid
// order that carries a design, then announces them. Items without a design
// (blank products) have nothing to print and are left out. Errors wrapping
// domain.ErrInvalid or domain.ErrUnusable cannot be fixed by retrying.
func (a *App) RenderOrder(ctx context.Context, cause string, job domain.RenderJob) error {
	if err := job.Validate(); err != nil {
		return err
	}
	out := domain.PrintFiles{OrderID: job.OrderID}
	for _, it := range job.Items {
		if !it.Printable() {
			continue
		}
		start := time.Now()
		pf, err := a.RenderItem(ctx, job.OrderID, it)
		if err != nil {
			jobDuration.WithLabelValues(kindPrintFile, outcomeError).Observe(time.Since(start).Seconds())
			return fmt.Errorf("order %s item %s: %w", job.OrderID, it.ItemID, err)
		}
		jobDuration.WithLabelValues(kindPrintFile, outcomeOK).Observe(time.Since(start).Seconds())
		out.Files = append(out.Files, pf)
	}
	if err := a.announce.PrintFilesReady(ctx, cause, out); err != nil {
		return fmt.Errorf("order %s: %w", job.OrderID, err)
	}
	a.log.InfoContext(ctx, "print files ready", "order_id", job.OrderID, "files", len(out.Files))
	return nil
}

// RenderItem writes one item's print file and mockup. A bad item or
// placement is domain.ErrInvalid; a missing or broken design master is
// domain.ErrUnusable.
func (a *App) RenderItem(ctx context.Context, orderID string, it domain.RenderItem) (domain.PrintFile, error) {
	if err := domain.CheckID("item_id", it.ItemID); err != nil {
		return domain.PrintFile{}, err
	}
	pl := it.Placement
	if pl == nil {
		return domain.PrintFile{}, fmt.Errorf("%w: render item has no placement", domain.ErrInvalid)
	}
	dpi := pl.PrintDPI(a.opt.DefaultDPI)
	spec, err := render.PrintSpecFor(pl.WidthIn, pl.HeightIn, dpi)
	if err != nil {
		return domain.PrintFile{}, fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	canvas := inspect.Header{Format: inspect.PNG, Width: spec.WidthPx, Height: spec.HeightPx}
	if err := a.opt.limits().Allow(canvas); err != nil {
		return domain.PrintFile{}, fmt.Errorf("%w: print area %gx%g in at %d DPI: %w", domain.ErrInvalid, pl.WidthIn, pl.HeightIn, dpi, err)
	}

	release, err := a.acquire(ctx)
	if err != nil {
		return domain.PrintFile{}, err
	}
	defer release()

	design, err := a.loadImage(ctx, a.opt.RendersBucket, it.DesignKey)
	if err != nil {
		return domain.PrintFile{}, fmt.Errorf("design master: %w", err)
	}
	defer design.Close()
	var product *render.Image
	if key := it.ProductImageKey; key != "" {
		product, err = a.loadImage(ctx, a.opt.ProductImagesBucket, key)
		if errors.Is(err, domain.ErrUnusable) {
			// A missing or unusable product photo still gets a mockup,
			// on the generated silhouette.
			a.log.WarnContext(ctx, "product image unusable, using the silhouette", "key", key, "err", err)
			product = nil
		} else if err != nil {
			return domain.PrintFile{}, fmt.Errorf("product image: %w", err)
		}
		defer product.Close()
	}

	printFile, err := design.PrintFile(spec)
	if err != nil {
		return domain.PrintFile{}, err
	}
	mockup, err := design.Mockup(product, render.MockupSpec{
		Size: a.opt.MockupSize, AreaAspect: pl.WidthIn / pl.HeightIn, Format: render.FormatJPEG,
	})
	if err != nil {
		return domain.PrintFile{}, err
	}
	keys := domain.KeysForItem(orderID, it.ItemID)
	if err := a.put(ctx, a.opt.RendersBucket, keys.PrintFile, printFile, "image/png"); err != nil {
		return domain.PrintFile{}, err
	}
	if err := a.put(ctx, a.opt.RendersBucket, keys.Mockup, mockup, render.FormatJPEG.ContentType()); err != nil {
		return domain.PrintFile{}, err
	}
	return domain.PrintFile{
		ItemID: it.ItemID, PrintFileKey: keys.PrintFile, MockupKey: keys.Mockup,
		WidthPx: spec.WidthPx, HeightPx: spec.HeightPx, DPI: dpi,
	}, nil
}

// loadImage fetches, inspects and decodes an image the worker did not just
// receive from a user (a design master, a product photo): the same gate
// applies. Problems with the object itself are domain.ErrUnusable.
func (a *App) loadImage(ctx context.Context, bucket, key string) (*render.Image, error) {
	b, err := a.get(ctx, bucket, key)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", domain.ErrUnusable, err)
	} else if err != nil {
		return nil, err
	}
	hdr, err := inspect.Check(b, a.opt.limits())
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", domain.ErrUnusable, bucket, key, err)
	}
	im, err := render.Load(b, hdr)
	if render.IsDecodeError(err) {
		return nil, fmt.Errorf("%w: %s/%s: %w", domain.ErrUnusable, bucket, key, err)
	}
	return im, err
}
