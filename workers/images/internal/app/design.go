package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// ValidateDesign validates and normalises one uploaded design and
// announces the result. A bad image is a result (a rejected design with a
// report), not an error; a malformed request is an error wrapping
// domain.ErrInvalid; storage or announcement trouble is any other error,
// worth retrying.
func (a *App) ValidateDesign(ctx context.Context, cause string, in domain.DesignUpload) error {
	in, err := a.designSource(in)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := a.processDesign(ctx, in)
	if err == nil {
		err = a.announce.DesignProcessed(ctx, cause, res)
	}
	if err != nil {
		jobDuration.WithLabelValues(kindDesign, outcomeError).Observe(time.Since(start).Seconds())
		return fmt.Errorf("design %s: %w", in.DesignID, err)
	}
	outcome := outcomeReady
	if !res.Ready() {
		outcome = outcomeRejected
	}
	jobDuration.WithLabelValues(kindDesign, outcome).Observe(time.Since(start).Seconds())
	a.log.InfoContext(ctx, "design processed", "design_id", in.DesignID, "verdict", res.Report.Verdict,
		"problems", len(res.Report.Problems), "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// ProcessDesign does the work of ValidateDesign short of announcing it: it
// writes the outputs (or, for a rejection, only the report) and returns the
// result. An error means the work could not be done.
func (a *App) ProcessDesign(ctx context.Context, in domain.DesignUpload) (domain.DesignResult, error) {
	in, err := a.designSource(in)
	if err != nil {
		return domain.DesignResult{}, err
	}
	return a.processDesign(ctx, in)
}

// designSource checks in and names the bucket it is read from: the
// designs bucket unless in names another allowed source.
func (a *App) designSource(in domain.DesignUpload) (domain.DesignUpload, error) {
	if err := in.Validate(); err != nil {
		return in, err
	}
	if in.Bucket == "" {
		in.Bucket = a.opt.DesignsBucket
	}
	if !a.opt.SourceAllowed(in.Bucket) {
		return in, fmt.Errorf("%w: design %s: bucket %q is not a design source", domain.ErrInvalid, in.DesignID, in.Bucket)
	}
	return in, nil
}

func (a *App) processDesign(ctx context.Context, in domain.DesignUpload) (domain.DesignResult, error) {
	release, err := a.acquire(ctx)
	if err != nil {
		return domain.DesignResult{}, err
	}
	defer release()

	rep := &domain.Report{
		DesignID:   in.DesignID,
		Problems:   []string{},
		Placements: []domain.ReportPlacement{},
		Source:     domain.ReportSource{Bucket: in.Bucket, Key: in.ObjectKey},
		Limits:     domain.ReportLimits{MaxBytes: a.opt.MaxBytes, MaxSide: a.opt.MaxSide, MaxPixels: a.opt.MaxPixels},
	}
	src, err := a.get(ctx, in.Bucket, in.ObjectKey)
	switch {
	case errors.Is(err, ErrNotFound):
		return a.reject(ctx, rep, nil, inspect.ReasonMissing, "no object at "+in.Bucket+"/"+in.ObjectKey)
	case errors.Is(err, ErrTooLarge):
		return a.reject(ctx, rep, nil, inspect.ReasonTooLarge, fmt.Sprintf("the file is over the %d byte limit", a.opt.MaxBytes))
	case err != nil:
		return domain.DesignResult{}, err
	}
	sum := sha256.Sum256(src)
	rep.Source.SHA256, rep.Source.Bytes = hex.EncodeToString(sum[:]), int64(len(src))

	hdr, err := inspect.Check(src, a.opt.limits())
	if p, ok := inspect.AsProblem(err); ok {
		return a.reject(ctx, rep, src, p.Reason, p.Detail)
	} else if err != nil {
		return domain.DesignResult{}, err
	}
	setHeader(rep, hdr)
	ow, oh := hdr.Oriented()
	results := inspect.Judge(ow, oh, toInspectPlacements(in.Placements))
	setPlacements(rep, results)
	if !inspect.Printable(results) {
		return a.reject(ctx, rep, src, inspect.ReasonLowDPI, "the design's resolution is below the minimum DPI of every placement")
	}

	im, err := render.Load(src, hdr)
	if render.IsDecodeError(err) {
		return a.reject(ctx, rep, src, inspect.ReasonCorrupt, "the image could not be decoded: "+err.Error())
	} else if err != nil {
		return domain.DesignResult{}, err
	}
	defer im.Close()
	rep.HasAlpha = im.HasAlpha()

	keys := domain.KeysForDesign(in.DesignID, src)
	master, err := im.PNG()
	if err != nil {
		return domain.DesignResult{}, fmt.Errorf("master: %w", err)
	}
	thumb, err := im.Thumbnail(a.opt.ThumbSize, render.FormatWebP)
	if err != nil {
		return domain.DesignResult{}, fmt.Errorf("thumbnail: %w", err)
	}
	preview, err := im.Thumbnail(a.opt.PreviewSize, render.FormatWebP)
	if err != nil {
		return domain.DesignResult{}, fmt.Errorf("preview: %w", err)
	}
	for _, o := range []struct {
		key, ct string
		body    []byte
	}{
		{keys.Master, "image/png", master},
		{keys.Thumbnail, render.FormatWebP.ContentType(), thumb},
		{keys.Preview, render.FormatWebP.ContentType(), preview},
	} {
		if err := a.put(ctx, a.opt.RendersBucket, o.key, o.body, o.ct); err != nil {
			return domain.DesignResult{}, err
		}
	}
	rep.Verdict = domain.VerdictReady
	rep.Outputs = &domain.ReportOutputs{Bucket: a.opt.RendersBucket, Master: keys.Master, Thumbnail: keys.Thumbnail, Preview: keys.Preview}
	if err := a.writeReport(ctx, keys.Report, rep); err != nil {
		return domain.DesignResult{}, err
	}
	return domain.DesignResult{Report: *rep, ReportKey: keys.Report}, nil
}

// reject writes the report of a rejected design and returns its result.
func (a *App) reject(ctx context.Context, rep *domain.Report, src []byte, reason inspect.Reason, detail string) (domain.DesignResult, error) {
	rep.Reject(string(reason), detail)
	key := domain.KeysForDesign(rep.DesignID, src).Report
	if err := a.writeReport(ctx, key, rep); err != nil {
		return domain.DesignResult{}, err
	}
	rejections.WithLabelValues(string(reason)).Inc()
	return domain.DesignResult{Report: *rep, ReportKey: key}, nil
}

func (a *App) writeReport(ctx context.Context, key string, rep *domain.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return a.put(ctx, a.opt.RendersBucket, key, append(b, '\n'), "application/json")
}
