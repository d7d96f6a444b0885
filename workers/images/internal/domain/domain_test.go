package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/workers/images/internal/domain"
)

func TestCheckID(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{
		"d-1": true, "A_b-9": true, strings.Repeat("x", 128): true,
		"": false, "../etc": false, "o/1": false, "-d": false, "_d": false, "d 1": false,
		strings.Repeat("x", 129): false,
	} {
		err := domain.CheckID("id", v)
		if (err == nil) != ok || (err != nil && !errors.Is(err, domain.ErrInvalid)) {
			t.Errorf("CheckID(%q) = %v, want ok=%v (or ErrInvalid)", v, err, ok)
		}
	}
}

func TestDesignUploadValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]domain.DesignUpload{
		"bad id":       {DesignID: "a/b", ObjectKey: "k"},
		"no key":       {DesignID: "d"},
		"key too long": {DesignID: "d", ObjectKey: strings.Repeat("k", domain.MaxObjectKey+1)},
	}
	for name, u := range tests {
		if err := u.Validate(); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := (domain.DesignUpload{DesignID: "d", ObjectKey: strings.Repeat("k", domain.MaxObjectKey)}).Validate(); err != nil {
		t.Errorf("longest key: %v", err)
	}
}

func TestPrintDPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    domain.Placement
		want int
	}{
		{domain.Placement{MinDPI: 150, RecommendedDPI: 300}, 300},
		{domain.Placement{MinDPI: 150}, 150},
		{domain.Placement{}, 200},
	}
	for _, tt := range tests {
		if got := tt.p.PrintDPI(200); got != tt.want {
			t.Errorf("%+v: %d DPI, want %d", tt.p, got, tt.want)
		}
	}
}

// Keys depend only on the input, so a redelivery rewrites the same objects.
func TestKeys(t *testing.T) {
	t.Parallel()
	a, b := domain.KeysForDesign("d", []byte("one")), domain.KeysForDesign("d", []byte("one"))
	if a != b || !strings.HasPrefix(a.Master, "designs/d/") || !strings.HasSuffix(a.Report, "/report.json") {
		t.Errorf("design keys %+v then %+v", a, b)
	}
	if c := domain.KeysForDesign("d", []byte("two")); c.Master == a.Master {
		t.Errorf("other bytes, same key %q", c.Master)
	}
	if k := domain.KeysForItem("o-1", "i-1"); k.PrintFile != "orders/o-1/i-1/print.png" || k.Mockup != "orders/o-1/i-1/mockup.jpg" {
		t.Errorf("item keys %+v", k)
	}
}
