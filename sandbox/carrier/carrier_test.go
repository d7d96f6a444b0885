package carrier_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/webhooksig"
	"github.com/printfleet/printfleet/sandbox/carrier"
)

const secret = "carrier-test-secret-0123456789"

// The carrier signs each update so that the gateway's check passes, gives
// each its own event id, and lists what it sent with the answers; a bad
// signature is one the check refuses.
func TestTrackPostsSignedUpdates(t *testing.T) {
	t.Parallel()
	var got []carrier.Update
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/carrier-updates" {
			http.NotFound(w, r)
			return
		}
		if err := webhooksig.Verify(r.Header.Get(carrier.SignatureHeader), body, secret, 5*time.Minute, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"UNAUTHENTICATED"}`))
			return
		}
		var u carrier.Update
		if err := json.Unmarshal(body, &u); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		got = append(got, u)
		_, _ = w.Write([]byte(`{"status":"` + u.Status + `"}`))
	}))
	t.Cleanup(gw.Close)
	c := httptest.NewServer(carrier.New(carrier.Options{GatewayURL: gw.URL, Secret: secret}))
	t.Cleanup(c.Close)

	post := func(body string) carrier.Sent {
		t.Helper()
		resp, err := http.Post(c.URL+"/track", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s carrier.Sent
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
			t.Fatalf("track: %d %v", resp.StatusCode, err)
		}
		return s
	}
	a := post(`{"carrier":"UPS","tracking_number":"1Z1","status":"IN_TRANSIT"}`)
	b := post(`{"carrier":"UPS","tracking_number":"1Z1","status":"DELIVERED"}`)
	bad := post(`{"carrier":"UPS","tracking_number":"1Z1","status":"DELIVERED","bad_signature":true}`)
	stale := post(`{"carrier":"UPS","tracking_number":"1Z1","status":"DELIVERED","signed_at":"2020-01-01T00:00:00Z"}`)
	if a.AnswerStatus != 200 || b.AnswerStatus != 200 || bad.AnswerStatus != 401 || stale.AnswerStatus != 401 {
		t.Fatalf("answers %d %d %d %d", a.AnswerStatus, b.AnswerStatus, bad.AnswerStatus, stale.AnswerStatus)
	}
	if a.Update.EventID == "" || a.Update.EventID == b.Update.EventID {
		t.Fatalf("event ids %q %q", a.Update.EventID, b.Update.EventID)
	}
	if len(got) != 2 || got[1].Status != "DELIVERED" || got[1].TrackingNumber != "1Z1" || got[1].OccurredAt.IsZero() {
		t.Fatalf("gateway got %+v", got)
	}

	resp, err := http.Get(c.URL + "/track/1Z1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Updates []carrier.Sent }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Updates) != 4 || list.Updates[0].Update.EventID != a.Update.EventID || string(list.Updates[1].Answer) != `{"status":"DELIVERED"}` {
		t.Fatalf("listed %+v", list.Updates)
	}
}
