package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestDesignSizeLimitAtUpload: a design as large as the images worker
// downloads (64 MiB) is registered, one byte more is refused with 400 when it
// is created, never stored and rejected later.
func TestDesignSizeLimitAtUpload(t *testing.T) {
	e := need(t)
	user := token(t, "limits-"+uuid.NewString()[:8], "user", time.Hour)
	const limit = 64 << 20
	e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/designs", user, map[string]any{
		"filename": "poster.png", "content_type": "image/png", "size_bytes": limit,
	})
	r := e.api.do(t, http.MethodPost, "/v1/designs", user, map[string]any{
		"filename": "poster.png", "content_type": "image/png", "size_bytes": limit + 1,
	})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "size_bytes") {
		t.Fatalf("64 MiB + 1: status %d, want 400 naming size_bytes: %s", r.Status, r.Body)
	}
	t.Logf("64 MiB + 1 byte: %d %s", r.Status, r.Body)
}

// TestTrackingURLIsHTTPOnly: a shipment whose tracking URL is not http(s) is
// refused with 400 at the edge, before the order is even looked up.
func TestTrackingURLIsHTTPOnly(t *testing.T) {
	e := need(t)
	partner := token(t, "limits-partner", "fulfillment", time.Hour)
	path := "/v1/orders/" + uuid.NewString() + "/shipments"
	for _, u := range []string{"javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html,<b>x</b>", "ftp://carrier.example/t"} {
		r := e.api.do(t, http.MethodPost, path, partner, map[string]any{"carrier": "UPS", "tracking_number": "1Z999AA1", "tracking_url": u})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "must be an http or https URL") {
			t.Fatalf("tracking_url %q: status %d, want 400: %s", u, r.Status, r.Body)
		}
	}
	// An https URL passes validation; the order does not exist.
	e.api.must(t, http.StatusNotFound, http.MethodPost, path, partner, map[string]any{"carrier": "UPS", "tracking_number": "1Z999AA1", "tracking_url": "https://carrier.example/t/1Z999AA1"})
}
