package events

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	paid, err := proto.Marshal(&eventsv1.OrderPaid{OrderId: "0190c0de-0000-7000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	placed, err := proto.Marshal(&eventsv1.OrderPlaced{OrderId: "0190c0de-0000-7000-8000-000000000002"})
	if err != nil {
		t.Fatal(err)
	}
	changed, err := proto.Marshal(&eventsv1.ProductChanged{ProductId: "p-1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ      string
		body     []byte
		wantJSON string
		wantID   string
		wantErr  string
	}{
		{eventsv1.KeyOrderPaid, paid, `"order_id":"0190c0de-0000-7000-8000-000000000001"`, "0190c0de-0000-7000-8000-000000000001", ""},
		{eventsv1.KeyOrderPlacedCoupon, placed, `"order_id":"0190c0de-0000-7000-8000-000000000002"`, "0190c0de-0000-7000-8000-000000000002", ""},
		{eventsv1.KeyProductChanged, changed, `"product_id":"p-1"`, "", ""},
		{eventsv1.KeyOrderPaid, []byte{0xff, 0xff, 0xff}, "", "", "body is not a OrderPaid"},
		{"nobody.nothing.v1", paid, "", "", "unknown event type"},
	}
	for _, tt := range tests {
		d, err := Decode(tt.typ, tt.body)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.typ, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.typ, err)
			continue
		}
		if !strings.Contains(strings.ReplaceAll(d.JSON, " ", ""), tt.wantJSON) || d.OrderID != tt.wantID {
			t.Errorf("%s: got %s order %q, want %s order %q", tt.typ, d.JSON, d.OrderID, tt.wantJSON, tt.wantID)
		}
	}
	// Every routing key decodes to a registered message.
	for _, key := range eventsv1.Keys {
		if _, err := Decode(key, nil); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}
