package domain

import (
	"encoding/json"
	"testing"
)

// TestMoneyJSONRoundTrip: the hand-written encoding is what encoding/json
// wrote before, and both it and other shapes decode.
func TestMoneyJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []Money{MustMoney(2499, "USD"), MustMoney(-5, "GBP"), MustMoney(0, "EUR"), {amount: 9007199254740993, currency: "x<y"}, {}} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(moneyJSON{m.amount, m.currency})
		if string(b) != string(want) {
			t.Errorf("encoded %s, want %s", b, want)
		}
		var got Money
		if err := json.Unmarshal(b, &got); err != nil || got != m {
			t.Errorf("%s decoded to %v, %v", b, got, err)
		}
	}
	for in, want := range map[string]Money{
		`{"currency":"USD","amount":7}`:      MustMoney(7, "USD"),
		`{ "amount": 7, "currency": "USD" }`: MustMoney(7, "USD"),
		`{"amount":7,"currency":"U\u0053D"}`: MustMoney(7, "USD"),
	} {
		var got Money
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != want {
			t.Errorf("%s decoded to %v, %v", in, got, err)
		}
	}
	var bad Money
	if err := json.Unmarshal([]byte(`{"amount":"x","currency":"USD"}`), &bad); err == nil {
		t.Error("a string amount decoded")
	}
}
