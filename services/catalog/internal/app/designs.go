package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
)

// Blobs is the object store (S3), as designs need it.
type Blobs interface {
	// PresignUpload returns a POST URL and the form fields that restrict the
	// upload to key, contentType and at most maxBytes.
	PresignUpload(ctx context.Context, bucket, key, contentType string, maxBytes int64, expires time.Time) (url string, fields map[string]string, err error)
	PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error)
	// Stat reports an object's size; found is false when it does not exist.
	Stat(ctx context.Context, bucket, key string) (size int64, found bool, err error)
}

// DesignsConfig names where designs live.
type DesignsConfig struct {
	Bucket        string        // uploaded originals
	RendersBucket string        // thumbnails and previews written by the image worker
	KeyPrefix     string        // prefix of original keys, e.g. "designs/"
	UploadTTL     time.Duration // lifetime of an upload URL
	URLTTL        time.Duration // lifetime of thumbnail/preview URLs
	// RenderLinkTTL is the lifetime of the operator console's links to
	// rendered files (SignRenderLinks).
	RenderLinkTTL time.Duration
}

// Designs is the artwork use cases of the API: uploads, processing, reads.
type Designs struct {
	store Store
	blobs Blobs
	cfg   DesignsConfig
	now   Clock
}

// NewDesigns returns the design use cases.
func NewDesigns(store Store, blobs Blobs, cfg DesignsConfig) *Designs {
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = 15 * time.Minute
	}
	if cfg.URLTTL <= 0 {
		cfg.URLTTL = 15 * time.Minute
	}
	if cfg.RenderLinkTTL <= 0 {
		cfg.RenderLinkTTL = 10 * time.Minute
	}
	return &Designs{store: store, blobs: blobs, cfg: cfg, now: time.Now}
}

// Upload is where and how the client sends a design's bytes.
type Upload struct {
	URL       string
	Method    string
	Fields    map[string]string
	ExpiresAt time.Time
}

// Create registers a design and returns a presigned POST that accepts only
// the declared content type and at most the declared size.
func (d *Designs) Create(ctx context.Context, caller principal.Principal, filename, contentType string, size int64) (domain.Design, Upload, error) {
	if err := caller.Require(); err != nil {
		return domain.Design{}, Upload{}, err
	}
	owner := caller.Subject
	switch {
	case filename == "" || len(filename) > 255:
		return domain.Design{}, Upload{}, errs.Field("filename", "must be 1-255 bytes")
	case !domain.DesignContentTypes[contentType]:
		return domain.Design{}, Upload{}, errs.Field("content_type", "must be image/png, image/jpeg or image/webp")
	case size <= 0 || size > eventsv1.MaxDesignBytes:
		return domain.Design{}, Upload{}, errs.Field("size_bytes", fmt.Sprintf("must be 1 to %d bytes (%d MiB), the largest design the images worker takes", int64(eventsv1.MaxDesignBytes), eventsv1.MaxDesignBytes>>20))
	}
	id := newID()
	des := domain.Design{ID: id, OwnerID: owner, Status: domain.DesignPendingUpload, Filename: filename,
		ContentType: contentType, SizeBytes: size, ObjectKey: d.cfg.KeyPrefix + id + "/original"}
	expires := d.now().Add(d.cfg.UploadTTL).UTC().Truncate(time.Second)
	url, fields, err := d.blobs.PresignUpload(ctx, d.cfg.Bucket, des.ObjectKey, contentType, size, expires)
	if err != nil {
		return domain.Design{}, Upload{}, fmt.Errorf("presign upload: %w", err)
	}
	if err := d.store.InTx(ctx, func(tx Tx) error { return tx.InsertDesign(ctx, des) }); err != nil {
		return domain.Design{}, Upload{}, fmt.Errorf("create design: %w", err)
	}
	des.CreatedAt, des.UpdatedAt = d.now(), d.now()
	return des, Upload{URL: url, Method: "POST", Fields: fields, ExpiresAt: expires}, nil
}

// owned returns the caller's design, or NotFound for anyone else's.
func (d *Designs) owned(ctx context.Context, caller principal.Principal, id string) (domain.Design, error) {
	return d.design(ctx, caller, id, false)
}

// design reads design id for caller: the owner's, or (read, for an admin
// or support operator) anyone's; to anyone else it does not exist.
func (d *Designs) design(ctx context.Context, caller principal.Principal, id string, read bool) (domain.Design, error) {
	if err := caller.Require(); err != nil {
		return domain.Design{}, err
	}
	des, err := d.store.Design(ctx, id)
	if err != nil {
		return domain.Design{}, err
	}
	if des.OwnerID != caller.Subject && !(read && caller.ReadsAll()) {
		return domain.Design{}, errs.E(errs.NotFound, "design %s not found", id)
	}
	return des, nil
}

// Process starts validation of an uploaded design (owner only): it publishes
// DesignUploaded with every placement of the active products and moves the
// design to processing. Calling it again changes nothing.
func (d *Designs) Process(ctx context.Context, caller principal.Principal, id string) (domain.Design, error) {
	des, err := d.owned(ctx, caller, id)
	if err != nil || des.Status != domain.DesignPendingUpload {
		return des, err
	}
	size, found, err := d.blobs.Stat(ctx, d.cfg.Bucket, des.ObjectKey)
	if err != nil {
		return domain.Design{}, errs.Wrap(errs.Unavailable, err, "object store unavailable")
	}
	if !found {
		return domain.Design{}, errs.E(errs.FailedPrecondition, "design %s has not been uploaded yet", id)
	}
	if size > des.SizeBytes {
		return domain.Design{}, errs.E(errs.FailedPrecondition, "uploaded file is larger than declared")
	}
	err = d.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.LockDesign(ctx, id)
		if err != nil {
			return err
		}
		if cur.Status != domain.DesignPendingUpload {
			des = cur
			return nil
		}
		placements, err := tx.ActivePlacements(ctx)
		if err != nil {
			return err
		}
		cur.Status, cur.SizeBytes = domain.DesignProcessing, size
		if err := tx.UpdateDesign(ctx, &cur); err != nil {
			return err
		}
		des = cur
		return tx.Emit(ctx, events.DesignUploaded(cur, d.cfg.Bucket, placements))
	})
	if err != nil {
		return domain.Design{}, fmt.Errorf("process design %s: %w", id, err)
	}
	return des, nil
}

// DesignURLs are presigned GET URLs of a ready design's renders.
type DesignURLs struct{ Thumbnail, Preview string }

// Get returns the caller's design (any design to an admin or support),
// with presigned thumbnail and preview URLs once it is ready.
func (d *Designs) Get(ctx context.Context, caller principal.Principal, id string) (domain.Design, DesignURLs, error) {
	des, err := d.design(ctx, caller, id, true)
	if err != nil {
		return domain.Design{}, DesignURLs{}, err
	}
	var urls DesignURLs
	if des.Status == domain.DesignReady {
		for _, x := range []struct {
			key string
			dst *string
		}{{des.ThumbnailKey, &urls.Thumbnail}, {des.PreviewKey, &urls.Preview}} {
			if x.key == "" {
				continue
			}
			if *x.dst, err = d.blobs.PresignGet(ctx, d.cfg.RendersBucket, x.key, d.cfg.URLTTL); err != nil {
				return domain.Design{}, DesignURLs{}, fmt.Errorf("presign %s: %w", x.key, err)
			}
		}
	}
	return des, urls, nil
}

// DesignResults records the image worker's verdicts on designs (the
// worker's side of designs: it needs no object store).
type DesignResults struct {
	store Store
	log   *slog.Logger
}

// NewDesignResults returns the verdict use case.
func NewDesignResults(store Store, log *slog.Logger) *DesignResults {
	return &DesignResults{store: store, log: log}
}

// Apply records the image worker's verdict (DesignProcessed), once, and
// announces it to the owner's webhooks (DesignNotice) in the same
// transaction.
func (d *DesignResults) Apply(ctx context.Context, msg InboxClaim, r domain.DesignResult) error {
	err := d.store.InTx(ctx, func(tx Tx) error {
		first, err := tx.Claim(ctx, msg.Consumer, msg.MessageID)
		if err != nil || !first {
			return err
		}
		des, err := tx.LockDesign(ctx, r.DesignID)
		if errs.Is(err, errs.NotFound) {
			d.log.WarnContext(ctx, "design result for an unknown design; skipped", "design_id", r.DesignID)
			return nil
		}
		if err != nil {
			return err
		}
		if des.Status == domain.DesignReady || des.Status == domain.DesignRejected {
			return nil // a verdict is final
		}
		des.Status = domain.DesignRejected
		if r.Ready {
			des.Status = domain.DesignReady
		}
		report := r.Report
		des.Report = &report
		des.MasterKey, des.ThumbnailKey, des.PreviewKey = r.MasterKey, r.ThumbnailKey, r.PreviewKey
		if err := tx.UpdateDesign(ctx, &des); err != nil {
			return err
		}
		return tx.Emit(ctx, events.DesignNotice(des))
	})
	if err != nil {
		return fmt.Errorf("apply design result %s: %w", r.DesignID, err)
	}
	return nil
}
