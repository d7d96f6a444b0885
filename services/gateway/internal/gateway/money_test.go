package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
)

func TestMoneyAmountsAreJSONNumbers(t *testing.T) {
	t.Parallel()
	m := moneyJSON{&runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}}}
	o := &ordersv1.Order{
		Id: "o1", Total: &typesv1.Money{Currency: "USD", AmountMinor: 2499},
		Discount:        &typesv1.Money{Currency: "USD", AmountMinor: -5},
		ExternalOrderId: `"amount_minor":"7"`, // text that looks like an amount stays text
		Version:         3,
	}
	b, err := m.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Total, Discount struct {
			Currency    string          `json:"currency"`
			AmountMinor json.RawMessage `json:"amount_minor"`
		}
		ExternalOrderID string `json:"external_order_id"`
		Version         string `json:"version"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if string(got.Total.AmountMinor) != "2499" || string(got.Discount.AmountMinor) != "-5" {
		t.Fatalf("amounts %s / %s, want JSON numbers: %s", got.Total.AmountMinor, got.Discount.AmountMinor, b)
	}
	if got.ExternalOrderID != `"amount_minor":"7"` || got.Version != "3" {
		t.Fatalf("other fields changed: %s", b)
	}
	var sb strings.Builder
	if err := m.NewEncoder(&sb).Encode(o); err != nil || !strings.Contains(sb.String(), `2499`) || strings.Contains(sb.String(), `"2499"`) {
		t.Fatalf("encoder: %v %s", err, sb.String())
	}
	// Both forms are accepted on input.
	for _, in := range []string{`{"currency":"USD","amount_minor":1999}`, `{"currency":"USD","amount_minor":"1999"}`} {
		var money typesv1.Money
		if err := m.Unmarshal([]byte(in), &money); err != nil || money.AmountMinor != 1999 {
			t.Fatalf("unmarshal %s: %v %v", in, &money, err)
		}
	}
}
