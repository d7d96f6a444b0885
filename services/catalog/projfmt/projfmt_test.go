package projfmt

import "testing"

// TestFormat pins the key and field names the gateway reads.
func TestFormat(t *testing.T) {
	t.Parallel()
	if got := Key(DefaultPrefix, "0190a000-0000-7000-8000-000000000003"); got != "{catalog}:product:0190a000-0000-7000-8000-000000000003" {
		t.Fatalf("key %q", got)
	}
	if FieldVersion != "v" || FieldDoc != "doc" || FieldAPI != "api" {
		t.Fatal("field names changed")
	}
}
