package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Designs: uploaded artwork, its processing status and the image
// worker's report (JSON).

const designCols = `d.id::text, d.owner_id, d.status, d.filename, d.content_type, d.size_bytes, d.object_key, d.master_key,
	d.thumbnail_key, d.preview_key, d.report, d.created_at, d.updated_at`

func scanDesign(r pgx.Row) (domain.Design, error) {
	var d domain.Design
	var status string
	var report []byte
	err := r.Scan(&d.ID, &d.OwnerID, &status, &d.Filename, &d.ContentType, &d.SizeBytes, &d.ObjectKey, &d.MasterKey,
		&d.ThumbnailKey, &d.PreviewKey, &report, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return d, err
	}
	d.Status = domain.DesignStatus(status)
	if len(report) > 0 {
		d.Report = &domain.DesignReport{}
		if err := json.Unmarshal(report, d.Report); err != nil {
			return d, fmt.Errorf("design %s report: %w", d.ID, err)
		}
	}
	return d, nil
}

// Design reads one design.
func (s *Store) Design(ctx context.Context, id string) (domain.Design, error) {
	if uuid.Validate(id) != nil {
		return domain.Design{}, notFound("design", id)
	}
	d, err := scanDesign(s.primary.QueryRow(ctx, `SELECT `+designCols+` FROM designs d WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Design{}, notFound("design", id)
	}
	if err != nil {
		return domain.Design{}, fmt.Errorf("design %s: %w", id, err)
	}
	return d, nil
}

func (t *tx) InsertDesign(ctx context.Context, d domain.Design) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO designs (id, owner_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, d.ID, d.OwnerID, string(d.Status), d.Filename, d.ContentType, d.SizeBytes, d.ObjectKey); err != nil {
		return fmt.Errorf("insert design: %w", err)
	}
	return nil
}

func (t *tx) LockDesign(ctx context.Context, id string) (domain.Design, error) {
	if uuid.Validate(id) != nil {
		return domain.Design{}, notFound("design", id)
	}
	d, err := scanDesign(t.tx.QueryRow(ctx, `SELECT `+designCols+` FROM designs d WHERE d.id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Design{}, notFound("design", id)
	}
	if err != nil {
		return domain.Design{}, fmt.Errorf("lock design %s: %w", id, err)
	}
	return d, nil
}

func (t *tx) UpdateDesign(ctx context.Context, d *domain.Design) error {
	var report []byte
	if d.Report != nil {
		var err error
		if report, err = json.Marshal(d.Report); err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
	}
	err := t.tx.QueryRow(ctx, `UPDATE designs SET status = $2, size_bytes = $3, master_key = $4, thumbnail_key = $5,
		preview_key = $6, report = $7, updated_at = now() WHERE id = $1 RETURNING updated_at`,
		d.ID, string(d.Status), d.SizeBytes, d.MasterKey, d.ThumbnailKey, d.PreviewKey, report).Scan(&d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("design", d.ID)
	}
	if err != nil {
		return fmt.Errorf("update design: %w", err)
	}
	return nil
}
