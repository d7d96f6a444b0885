package cachefmt

import "testing"

// TestFormat pins the entry format both the orders service and the gateway
// rely on: changing it is a change of contract.
func TestFormat(t *testing.T) {
	t.Parallel()
	if got := Key(DefaultPrefix, "0190a000-0000-7000-8000-000000000001"); got != "printfleet:orders:order:0190a000-0000-7000-8000-000000000001" {
		t.Fatalf("key %q", got)
	}
	// The refill script stores "<version>:o:" + Encode(...).
	raw := "7:o:" + Encode([]byte(`{"ID":"x"}`), []byte("\x0a\x01x"))
	if raw != "7:o:{\"ID\":\"x\"}\x00\x0a\x01x" {
		t.Fatalf("entry %q", raw)
	}
	e, ok := Decode(raw)
	if !ok || e.Version != 7 || e.JSON != `{"ID":"x"}` || e.Wire != "\x0a\x01x" {
		t.Fatalf("decoded %+v %v", e, ok)
	}
	e, ok = Decode("7:o:" + Encode([]byte(`{"ID":"x"}`), nil))
	if !ok || e.JSON != `{"ID":"x"}` || e.Wire != "" {
		t.Fatalf("entry without wire part: %+v %v", e, ok)
	}
	for _, miss := range []string{"7:t", "", "x:o:{}", "7", "7:x:{}"} {
		if _, ok := Decode(miss); ok {
			t.Errorf("%q decoded", miss)
		}
	}
}
