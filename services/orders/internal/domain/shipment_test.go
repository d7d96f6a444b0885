package domain_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// A tracking URL is a link customers click: http(s) with a host, or none.
func TestShipmentTrackingURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"https://ups.example/track/1Z999AA1", true},
		{"http://carrier.example/t?n=1", true},
		{"HTTPS://Carrier.Example/t", true},
		{"javascript:alert(document.cookie)", false},
		{"JavaScript://ups.example/%0Aalert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"vbscript:msgbox(1)", false},
		{"//ups.example/track", false},
		{"https:///track", false},
		{"ftp://ups.example/track", false},
		{"https://ups.example/track 1", false},
	} {
		_, err := domain.NewShipment(domain.ShipmentFields{ID: uuid.NewString(), Carrier: "UPS", TrackingNumber: "1Z999AA1", TrackingURL: tc.url, CreatedAt: now})
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q refused: %v", tc.url, err)
		case !tc.ok && (!errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "tracking_url")):
			t.Errorf("%q: err = %v, want an invalid tracking_url", tc.url, err)
		}
	}
}
