package events_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/events"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// The message id is derived from store, shipment and outcome, the same way
// across releases: the orders worker's inbox records a resend once only if
// a redelivery that spans a deploy republishes the id it had.
func TestAnnounceDerivesTheMessageID(t *testing.T) {
	t.Parallel()
	pub := &testenv.Publisher{}
	a := events.NewAnnouncer(pub)
	r := domain.Report{OrderID: "o1", ShipmentID: "sh1", StoreID: "st1", Marketplace: "etsy", Attempts: 2, HTTPStatus: 201,
		Message: "tracking pushed", ReceiptKey: domain.ReceiptKey("st1", "sh1")}
	failed := r
	failed.Failed, failed.HTTPStatus, failed.Message = true, 400, "refused"
	for _, rep := range []domain.Report{r, r, failed} {
		if err := a.Announce(context.Background(), rep); err != nil {
			t.Fatal(err)
		}
	}
	msgs := pub.All()
	ns := uuid.MustParse("6f0b7a52-8c1e-4d0f-b4a9-3c2d1e0f9a81")
	if want := uuid.NewSHA1(ns, []byte("st1/sh1/PUSH_OUTCOME_SUCCEEDED")).String(); msgs[0].ID != want || msgs[1].ID != want {
		t.Fatalf("ids %s, %s; want %s", msgs[0].ID, msgs[1].ID, want)
	}
	if want := uuid.NewSHA1(ns, []byte("st1/sh1/PUSH_OUTCOME_FAILED_PERMANENT")).String(); msgs[2].ID != want {
		t.Fatalf("failed id %s; want %s", msgs[2].ID, want)
	}
	got := testenv.Pushed(t, msgs[0])
	if got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED || got.GetOrderId() != "o1" || got.GetShipmentId() != "sh1" ||
		got.GetStoreId() != "st1" || got.GetMarketplace() != "etsy" || got.GetAttempts() != 2 || got.GetHttpStatus() != 201 ||
		got.GetMessage() != "tracking pushed" || got.GetReceiptKey() != "receipts/st1/sh1.json" {
		t.Fatalf("event %v", got)
	}
	if f := testenv.Pushed(t, msgs[2]); f.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT || f.GetHttpStatus() != 400 {
		t.Fatalf("failed event %v", f)
	}
}
