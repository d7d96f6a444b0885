package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// DesignKeys are where a design's outputs live in the renders bucket:
// designs/<design_id>/<first 16 hex digits of the source's SHA-256>/...
// The same bytes always land on the same keys.
type DesignKeys struct {
	Master, Thumbnail, Preview, Report string
}

// KeysForDesign returns the output keys of designID with source bytes src.
func KeysForDesign(designID string, src []byte) DesignKeys {
	sum := sha256.Sum256(src)
	base := "designs/" + designID + "/" + hex.EncodeToString(sum[:8]) + "/"
	return DesignKeys{
		Master:    base + "master.png",
		Thumbnail: base + "thumb.webp",
		Preview:   base + "preview.webp",
		Report:    base + "report.json",
	}
}

// HandleDesignUploaded validates and normalises one uploaded design. A bad
// image is answered with a REJECTED DesignProcessed and acked; a malformed
// event goes to the DLQ; storage or broker trouble returns an error, and
// the delivery is retried.
func (w *Worker) HandleDesignUploaded(ctx context.Context, d amqp.Delivery) error {
	var ev eventsv1.DesignUploaded
	if err := proto.Unmarshal(d.Body, &ev); err != nil {
		return amqp.Permanent(fmt.Errorf("decode DesignUploaded: %w", err))
	}
	if err := checkID("design_id", ev.GetDesignId()); err != nil {
		return amqp.Permanent(fmt.Errorf("DesignUploaded: %w", err))
	}
	if ev.GetObjectKey() == "" || len(ev.GetObjectKey()) > 1024 {
		return amqp.Permanent(fmt.Errorf("DesignUploaded %s: object_key of %d bytes", ev.GetDesignId(), len(ev.GetObjectKey())))
	}
	bucket := ev.GetBucket()
	if bucket == "" {
		bucket = w.opt.DesignsBucket
	}
	if !w.opt.sourceAllowed(bucket) {
		return amqp.Permanent(fmt.Errorf("DesignUploaded %s: bucket %q is not a design source", ev.GetDesignId(), bucket))
	}

	start := time.Now()
	out, err := w.ProcessDesign(ctx, bucket, &ev)
	if err == nil {
		err = w.publish(ctx, d, TypeDesignProcessed, out)
	}
	if err != nil {
		jobDuration.WithLabelValues(kindDesign, outcomeError).Observe(time.Since(start).Seconds())
		return fmt.Errorf("design %s: %w", ev.GetDesignId(), err)
	}
	outcome := outcomeReady
	if out.GetVerdict() == eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED {
		outcome = outcomeRejected
	}
	jobDuration.WithLabelValues(kindDesign, outcome).Observe(time.Since(start).Seconds())
	w.log.InfoContext(ctx, "design processed", "design_id", ev.GetDesignId(), "verdict", out.GetVerdict().String(),
		"problems", len(out.GetProblems()), "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// ProcessDesign does the work of HandleDesignUploaded short of publishing:
// it writes the outputs (or, for a rejection, only the report) and returns
// the event to publish. An error means the work could not be done and is
// worth retrying.
func (w *Worker) ProcessDesign(ctx context.Context, bucket string, ev *eventsv1.DesignUploaded) (*eventsv1.DesignProcessed, error) {
	release, err := w.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	rep := &Report{
		DesignID:   ev.GetDesignId(),
		Problems:   []string{},
		Placements: []ReportPlacement{},
		Source:     ReportSource{Bucket: bucket, Key: ev.GetObjectKey()},
		Limits:     ReportLimits{MaxBytes: w.opt.MaxBytes, MaxSide: w.opt.MaxSide, MaxPixels: w.opt.MaxPixels},
	}
	src, err := w.get(ctx, bucket, ev.GetObjectKey())
	switch {
	case errors.Is(err, ErrNotFound):
		return w.reject(ctx, rep, nil, inspect.ReasonMissing, "no object at "+bucket+"/"+ev.GetObjectKey())
	case errors.Is(err, ErrTooLarge):
		return w.reject(ctx, rep, nil, inspect.ReasonTooLarge, fmt.Sprintf("the file is over the %d byte limit", w.opt.MaxBytes))
	case err != nil:
		return nil, err
	}
	sum := sha256.Sum256(src)
	rep.Source.SHA256, rep.Source.Bytes = hex.EncodeToString(sum[:]), int64(len(src))

	hdr, err := inspect.Check(src, w.opt.limits())
	if p, ok := inspect.AsProblem(err); ok {
		return w.reject(ctx, rep, src, p.Reason, p.Detail)
	} else if err != nil {
		return nil, err
	}
	rep.setHeader(hdr)
	ow, oh := hdr.Oriented()
	results := inspect.Judge(ow, oh, placementsOf(ev.GetPlacements()))
	rep.setPlacements(results)
	if !inspect.Printable(results) {
		return w.reject(ctx, rep, src, inspect.ReasonLowDPI, "the design's resolution is below the minimum DPI of every placement")
	}

	im, err := render.Load(src, hdr)
	if render.IsDecodeError(err) {
		return w.reject(ctx, rep, src, inspect.ReasonCorrupt, "the image could not be decoded: "+err.Error())
	} else if err != nil {
		return nil, err
	}
	defer im.Close()
	rep.HasAlpha = im.HasAlpha()

	keys := KeysForDesign(ev.GetDesignId(), src)
	master, err := im.PNG()
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	thumb, err := im.Thumbnail(w.opt.ThumbSize, render.FormatWebP)
	if err != nil {
		return nil, fmt.Errorf("thumbnail: %w", err)
	}
	preview, err := im.Thumbnail(w.opt.PreviewSize, render.FormatWebP)
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	for _, o := range []struct {
		key, ct string
		body    []byte
	}{
		{keys.Master, "image/png", master},
		{keys.Thumbnail, render.FormatWebP.ContentType(), thumb},
		{keys.Preview, render.FormatWebP.ContentType(), preview},
	} {
		if err := w.put(ctx, w.opt.RendersBucket, o.key, o.body, o.ct); err != nil {
			return nil, err
		}
	}
	rep.Verdict = "ready"
	rep.Outputs = &ReportOutputs{Bucket: w.opt.RendersBucket, Master: keys.Master, Thumbnail: keys.Thumbnail, Preview: keys.Preview}
	if err := w.writeReport(ctx, keys.Report, rep); err != nil {
		return nil, err
	}
	out := rep.event()
	out.MasterKey, out.ThumbnailKey, out.PreviewKey, out.ReportKey = keys.Master, keys.Thumbnail, keys.Preview, keys.Report
	return out, nil
}

// reject writes the report of a rejected design and returns its event.
func (w *Worker) reject(ctx context.Context, rep *Report, src []byte, reason inspect.Reason, detail string) (*eventsv1.DesignProcessed, error) {
	rep.Verdict, rep.Reason = "rejected", string(reason)
	rep.Problems = append([]string{detail}, rep.Problems...)
	key := KeysForDesign(rep.DesignID, src).Report
	if err := w.writeReport(ctx, key, rep); err != nil {
		return nil, err
	}
	rejections.WithLabelValues(string(reason)).Inc()
	out := rep.event()
	out.ReportKey = key
	return out, nil
}

func (w *Worker) writeReport(ctx context.Context, key string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return w.put(ctx, w.opt.RendersBucket, key, append(b, '\n'), "application/json")
}

func placementsOf(ps []*eventsv1.PlacementSpec) []inspect.Placement {
	out := make([]inspect.Placement, 0, len(ps))
	for _, p := range ps {
		out = append(out, inspect.Placement{
			ID: p.GetPlacementId(), Name: p.GetName(),
			WidthIn: p.GetWidthIn(), HeightIn: p.GetHeightIn(),
			MinDPI: int(p.GetMinDpi()), RecommendedDPI: int(p.GetRecommendedDpi()),
		})
	}
	return out
}

// Report is the JSON validation report stored next to a design's outputs.
// It holds no clock readings, so the same input writes the same bytes.
type Report struct {
	DesignID   string            `json:"design_id"`
	Verdict    string            `json:"verdict"`          // ready | rejected
	Reason     string            `json:"reason,omitempty"` // rejection reason
	Problems   []string          `json:"problems"`
	Source     ReportSource      `json:"source"`
	Format     string            `json:"format,omitempty"`
	WidthPx    int               `json:"width_px,omitempty"` // oriented
	HeightPx   int               `json:"height_px,omitempty"`
	Stored     *ReportSize       `json:"stored,omitempty"` // before orientation
	HasAlpha   bool              `json:"has_alpha"`
	Placements []ReportPlacement `json:"placements"`
	Outputs    *ReportOutputs    `json:"outputs,omitempty"`
	Limits     ReportLimits      `json:"limits"`
}

// ReportSource is the uploaded object.
type ReportSource struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
}

// ReportSize is a stored size and orientation.
type ReportSize struct {
	WidthPx     int `json:"width_px"`
	HeightPx    int `json:"height_px"`
	Orientation int `json:"orientation"`
}

// ReportPlacement is one DPI verdict.
type ReportPlacement struct {
	PlacementID    string  `json:"placement_id"`
	Name           string  `json:"name"`
	WidthIn        float64 `json:"width_in"`
	HeightIn       float64 `json:"height_in"`
	MinDPI         int     `json:"min_dpi"`
	RecommendedDPI int     `json:"recommended_dpi"`
	EffectiveDPI   float64 `json:"effective_dpi"`
	Verdict        string  `json:"verdict"`
}

// ReportOutputs are the keys written for a ready design.
type ReportOutputs struct {
	Bucket    string `json:"bucket"`
	Master    string `json:"master"`
	Thumbnail string `json:"thumbnail"`
	Preview   string `json:"preview"`
}

// ReportLimits are the caps the design was checked against.
type ReportLimits struct {
	MaxBytes  int64 `json:"max_bytes"`
	MaxSide   int   `json:"max_side"`
	MaxPixels int64 `json:"max_pixels"`
}

func (r *Report) setHeader(h inspect.Header) {
	r.Format = string(h.Format)
	r.WidthPx, r.HeightPx = h.Oriented()
	r.Stored = &ReportSize{WidthPx: h.Width, HeightPx: h.Height, Orientation: h.Orientation}
	r.HasAlpha = h.HasAlpha
}

func (r *Report) setPlacements(rs []inspect.PlacementResult) {
	r.Placements = make([]ReportPlacement, 0, len(rs))
	for _, p := range rs {
		r.Placements = append(r.Placements, ReportPlacement{
			PlacementID: p.ID, Name: p.Name, WidthIn: p.WidthIn, HeightIn: p.HeightIn,
			MinDPI: p.MinDPI, RecommendedDPI: p.RecommendedDPI,
			EffectiveDPI: math.Round(p.EffectiveDPI*10) / 10, Verdict: string(p.Verdict),
		})
		if p.Problem != "" {
			r.Problems = append(r.Problems, p.Problem)
		}
	}
}

func (r *Report) event() *eventsv1.DesignProcessed {
	out := &eventsv1.DesignProcessed{
		DesignId: r.DesignID,
		Verdict:  eventsv1.DesignVerdict_DESIGN_VERDICT_READY,
		Format:   r.Format,
		WidthPx:  int32(r.WidthPx),
		HeightPx: int32(r.HeightPx),
		HasAlpha: r.HasAlpha,
		Problems: r.Problems,
	}
	if r.Verdict != "ready" {
		out.Verdict = eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED
	}
	for _, p := range r.Placements {
		out.Placements = append(out.Placements, &eventsv1.PlacementVerdict{
			PlacementId: p.PlacementID, Name: p.Name, EffectiveDpi: p.EffectiveDPI, Verdict: p.Verdict,
		})
	}
	return out
}
