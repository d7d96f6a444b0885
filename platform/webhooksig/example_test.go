package webhooksig_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/webhooksig"
)

// A receiver verifies every delivery before it acts on it: it reads the raw
// body (verify the bytes received, not a re-encoding of parsed JSON), checks
// the signature against the endpoint's secret with the default tolerance,
// and answers 2xx quickly. Printfleet-Event-Id identifies the event: the same
// event may arrive more than once, so process each id once.
func Example() {
	secret := "whsec_dGhpcy1pcy1hLXRlc3Qtc2VjcmV0LW9ubHktMDEyMzQ1Njc4OQ" // from the webhook's creation or rotation

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = webhooksig.Verify(r.Header.Get(webhooksig.Header), body, secret,
			webhooksig.DefaultTolerance, time.Now())
		switch {
		case errors.Is(err, webhooksig.ErrTimestamp):
			http.Error(w, "stale delivery", http.StatusBadRequest)
			return
		case err != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Println("verified", r.Header.Get("Printfleet-Event-Type"), r.Header.Get("Printfleet-Event-Id"))
		w.WriteHeader(http.StatusNoContent)
	})

	// What printfleet sends, played against the handler.
	body := `{"id":"0193a9c2-7b1e-7c3a-9d10-3f2a1b4c5d6e","type":"order.paid","api_version":"2026-12-01","created_at":"2026-12-03T14:00:00Z","data":{"order":{}}}`
	req := httptest.NewRequest(http.MethodPost, "/hooks/printfleet", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Printfleet-Event-Id", "0193a9c2-7b1e-7c3a-9d10-3f2a1b4c5d6e")
	req.Header.Set("Printfleet-Event-Type", "order.paid")
	req.Header.Set(webhooksig.Header, webhooksig.Sign(time.Now(), []byte(body), secret))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// A forged delivery is refused.
	req = httptest.NewRequest(http.MethodPost, "/hooks/printfleet", strings.NewReader(body))
	req.Header.Set(webhooksig.Header, webhooksig.Sign(time.Now(), []byte(body), "whsec_guessed"))
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// Output:
	// verified order.paid 0193a9c2-7b1e-7c3a-9d10-3f2a1b4c5d6e
	// 204
	// 401
}
