package events_test

import (
	"context"
	"testing"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/events"
	"github.com/printfleet/printfleet/workers/images/internal/testenv"
)

// The same result for the same cause is published under the same message
// id (downstream inboxes drop the second); another cause gets another id.
func TestMessageIDsDeriveFromTheCause(t *testing.T) {
	t.Parallel()
	pub := &testenv.Publisher{}
	p := events.NewPublisher(pub)
	r := domain.PrintFiles{OrderID: "o-1", Files: []domain.PrintFile{{ItemID: "i-1", PrintFileKey: "pf", MockupKey: "mk", WidthPx: 10, HeightPx: 20, DPI: 30}}}
	for _, cause := range []string{"m-1", "m-1", "m-2"} {
		if err := p.PrintFilesReady(context.Background(), cause, r); err != nil {
			t.Fatal(err)
		}
	}
	msgs := pub.All()
	if len(msgs) != 3 || msgs[0].ID != msgs[1].ID || msgs[0].ID == msgs[2].ID || msgs[0].ID == "" {
		t.Fatalf("ids %q %q %q: want the first two equal, the third different", msgs[0].ID, msgs[1].ID, msgs[2].ID)
	}
	if msgs[0].Type != eventsv1.KeyPrintFilesReady {
		t.Errorf("type %q", msgs[0].Type)
	}
	got := testenv.Unmarshal(t, msgs[0].Body, &eventsv1.PrintFilesReady{})
	f := got.GetFiles()[0]
	if got.GetOrderId() != "o-1" || f.GetItemId() != "i-1" || f.GetPrintFileKey() != "pf" || f.GetMockupKey() != "mk" ||
		f.GetWidthPx() != 10 || f.GetHeightPx() != 20 || f.GetDpi() != 30 {
		t.Errorf("PrintFilesReady %v", got)
	}
}

// A rejected design names its report but no outputs.
func TestDesignProcessed(t *testing.T) {
	t.Parallel()
	pub := &testenv.Publisher{}
	p := events.NewPublisher(pub)
	rep := domain.Report{DesignID: "d", Problems: []string{}, Placements: []domain.ReportPlacement{{PlacementID: "front", Name: "Front", EffectiveDPI: 12.5, Verdict: "reject"}}}
	rep.Reject("low_dpi", "too few DPI")
	if err := p.DesignProcessed(context.Background(), "m-1", domain.DesignResult{Report: rep, ReportKey: "r.json"}); err != nil {
		t.Fatal(err)
	}
	msgs := pub.All()
	if len(msgs) != 1 || msgs[0].Type != eventsv1.KeyDesignProcessed {
		t.Fatalf("published %v", msgs)
	}
	got := testenv.Unmarshal(t, msgs[0].Body, &eventsv1.DesignProcessed{})
	if got.GetVerdict() != eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED || got.GetReportKey() != "r.json" || got.GetMasterKey() != "" ||
		len(got.GetProblems()) != 1 || got.GetProblems()[0] != "too few DPI" ||
		len(got.GetPlacements()) != 1 || got.GetPlacements()[0].GetEffectiveDpi() != 12.5 || got.GetPlacements()[0].GetVerdict() != "reject" {
		t.Errorf("DesignProcessed %v", got)
	}
}
