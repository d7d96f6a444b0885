package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

func design(owner string) domain.Design {
	id := testenv.ID()
	return domain.Design{ID: id, OwnerID: owner, Status: domain.DesignPendingUpload, Filename: "art.png",
		ContentType: "image/png", SizeBytes: 1000, ObjectKey: "designs/" + id + "/original"}
}

// sameDesign compares everything but the timestamps, the report by value.
func sameDesign(t *testing.T, what string, got, want domain.Design) {
	t.Helper()
	show := func(d domain.Design) string {
		var report any
		if d.Report != nil {
			report = *d.Report
		}
		d.CreatedAt, d.UpdatedAt, d.Report = time.Time{}, time.Time{}, nil
		return fmt.Sprintf("%+v report=%+v", d, report)
	}
	if g, w := show(got), show(want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestDesignRoundTripsWithItsReport(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	ctx := context.Background()
	d := design("alice")
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertDesign(ctx, d) })
	got, err := s.Design(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Report != nil || got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Fatalf("new design: report %v, created_at %v, updated_at %v", got.Report, got.CreatedAt, got.UpdatedAt)
	}
	sameDesign(t, "design read back", got, d)

	next := d
	next.Status, next.SizeBytes = domain.DesignReady, 990
	next.MasterKey, next.ThumbnailKey, next.PreviewKey = "m/"+d.ID, "t/"+d.ID, "p/"+d.ID
	next.Report = &domain.DesignReport{Format: "png", WidthPx: 4500, HeightPx: 5400, HasAlpha: true, Problems: []string{"small margin"},
		Placements: []domain.PlacementVerdict{{PlacementID: testenv.ID(), Name: "front", EffectiveDPI: 281.25, Verdict: "warn"}}}
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		cur, err := tx.LockDesign(ctx, d.ID)
		if err != nil {
			return err
		}
		sameDesign(t, "locked design", cur, d)
		return tx.UpdateDesign(ctx, &next)
	})
	got, err = s.Design(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameDesign(t, "updated design", got, next)
	if !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("updated_at %v not after created_at %v", got.UpdatedAt, got.CreatedAt)
	}
}

func TestDesignNotFound(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	for _, id := range []string{"junk", testenv.ID()} {
		_, err := s.Design(context.Background(), id)
		wantKind(t, "design "+id, err, errs.NotFound)
		err = txErr(s, func(ctx context.Context, tx app.Tx) error { _, err := tx.LockDesign(ctx, id); return err })
		wantKind(t, "lock design "+id, err, errs.NotFound)
	}
}
