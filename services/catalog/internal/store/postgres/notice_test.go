package postgres_test

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/designpb"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

// Recording a design's verdict writes its DesignNotice in the same
// transaction: design.ready or design.rejected, the design exactly as it
// reads back (GetDesign's conversion, without the presigned URLs), at the
// time the verdict was recorded; a redelivered verdict writes none.
func TestADesignVerdictWritesItsNotice(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	ctx := context.Background()
	results := app.NewDesignResults(s, slog.Default())
	for _, tc := range []struct {
		ready bool
		want  string
	}{{true, "design.ready"}, {false, "design.rejected"}} {
		d := design("alice")
		d.Status = domain.DesignProcessing
		inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertDesign(ctx, d) })
		r := domain.DesignResult{DesignID: d.ID, Ready: tc.ready, MasterKey: "m/" + d.ID, ThumbnailKey: "t/" + d.ID, PreviewKey: "p/" + d.ID,
			Report: domain.DesignReport{Format: "png", WidthPx: 4500, HeightPx: 5400,
				Placements: []domain.PlacementVerdict{{PlacementID: testenv.ID(), Name: "front", EffectiveDPI: 90, Verdict: "reject"}}}}
		msg := app.InboxClaim{Consumer: "catalog.test", MessageID: testenv.ID()}
		for range 2 { // a redelivery changes nothing
			if err := results.Apply(ctx, msg, r); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := pool.Query(ctx, `SELECT payload FROM outbox WHERE type = $1 AND payload LIKE '%' || $2::text::bytea || '%'`,
			eventsv1.KeyDesignNotice, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var payloads [][]byte
		for rows.Next() {
			var p []byte
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, p)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(payloads) != 1 {
			t.Fatalf("%s: %d notices, want 1", tc.want, len(payloads))
		}
		var n eventsv1.DesignNotice
		if err := proto.Unmarshal(payloads[0], &n); err != nil {
			t.Fatal(err)
		}
		got, err := s.Design(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := designpb.Design(&got, "", ""); n.GetType() != tc.want || !proto.Equal(n.GetDesign(), want) ||
			!n.GetOccurredAt().AsTime().Equal(got.UpdatedAt) {
			t.Fatalf("notice %v\nwant type %s, design %v, occurred_at %v", &n, tc.want, want, got.UpdatedAt)
		}
	}
}
