package e2e

// Webhook subscriptions are their owner's: another user meets 404 on every
// route that names one (as for an id that does not exist), lists only their
// own, and an admin sees all; the signing secret is shown at creation and
// rotation only; every route needs a token; an endpoint that answers 410
// Gone is disabled and says why.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWebhooksSecurity(t *testing.T) {
	e := need(t)
	t.Parallel()
	alice := secToken(t, newSubject("wh-alice"), "user", time.Hour)
	bob := secToken(t, newSubject("wh-bob"), "user", time.Hour)
	admin := secToken(t, newSubject("wh-admin"), "admin", time.Hour)
	whWaitAPI(t, e, alice)

	rcvA := newWhReceiver(t, e, whOK)
	subA := createWh(t, e, alice, rcvA.URL, "*")
	rcvB := newWhReceiver(t, e, whOK)
	subB := createWh(t, e, bob, rcvB.URL, "order.shipped", "order.cancelled")

	// One delivery of alice's, for the delivery routes.
	orders := whBlankOrders(t, e, alice, 1)
	got := rcvA.waitReceived(t, 60*time.Second, "alice's order.created", func(got []whReceived) (bool, string) {
		return hasTypes(got, orders, "order.created")
	})
	created := got[slices.IndexFunc(got, func(d whReceived) bool { return d.Event.Type == "order.created" })]
	deliveryID := created.deliveryID()
	waitLogSucceeded(t, e, alice, subA.ID, []string{created.eventID()}, 30*time.Second)

	routes := func(webhook, delivery string) []struct {
		method, path string
		body         any
	} {
		return []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/v1/webhooks/" + webhook, nil},
			{http.MethodGet, "/v1/webhooks/" + webhook + "/deliveries", nil},
			{http.MethodPost, "/v1/webhooks/" + webhook + "/deliveries/" + delivery + ":redeliver", map[string]any{}},
			{http.MethodPost, "/v1/webhooks/" + webhook + ":rotate-secret", map[string]any{}},
			{http.MethodPost, "/v1/webhooks/" + webhook + ":enable", map[string]any{}},
			{http.MethodDelete, "/v1/webhooks/" + webhook, nil},
		}
	}

	t.Run("BOLA", func(t *testing.T) {
		before := len(rcvA.received(t))
		ghosts := routes(ghostID(), ghostID())
		for i, rt := range routes(subA.ID, deliveryID) {
			r := e.api.do(t, rt.method, rt.path, bob, rt.body)
			if msg := checkErrorBody(r, http.StatusNotFound, "NOT_FOUND"); msg != "" {
				t.Errorf("bob %s %s (alice's): %s", rt.method, rt.path, msg)
			}
			assertNoSecretIn(t, "bob's "+rt.method+" "+rt.path, r.Body)
			ghost := e.api.do(t, ghosts[i].method, ghosts[i].path, bob, ghosts[i].body)
			if ghost.Status != r.Status || !sameErrorMessage(ghost, r) {
				t.Errorf("%s %s: alice's webhook answers bob %d %s, a missing one %d %s: they must not differ",
					rt.method, rt.path, r.Status, secClip(r.Body, 200), ghost.Status, secClip(ghost.Body, 200))
			}
		}
		// Bob's own delivery route with alice's delivery id.
		r := e.api.do(t, http.MethodPost, "/v1/webhooks/"+subB.ID+"/deliveries/"+deliveryID+":redeliver", bob, map[string]any{})
		if msg := checkErrorBody(r, http.StatusNotFound, "NOT_FOUND"); msg != "" {
			t.Errorf("bob redelivers alice's delivery under his own webhook: %s", msg)
		}
		// Nothing of alice's changed: same secret (no rotation), still
		// active, nothing redelivered.
		w := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+subA.ID, alice, nil)
		if str(w, "status") != "WEBHOOK_STATUS_ACTIVE" || str(w, "previous_secret_expires_at") != "" {
			t.Errorf("alice's webhook after bob's attempts: %s", secJSON(w))
		}
		if n := len(rcvA.received(t)); n < before {
			t.Errorf("alice's receiver lost deliveries (%d → %d)", before, n)
		}
		for _, d := range rcvA.received(t) {
			if d.eventID() == created.eventID() && d.attempt() > 1 {
				t.Errorf("bob's redeliver reached alice's endpoint: %s", d)
			}
		}
	})

	t.Run("Lists", func(t *testing.T) {
		own := whList(t, e, alice, "")
		if len(own) != 1 || own[subA.ID] == nil {
			t.Errorf("alice's list: %v, want only %s", keys(setOf(own)), subA.ID)
		}
		own = whList(t, e, bob, "")
		if len(own) != 1 || own[subB.ID] == nil {
			t.Errorf("bob's list: %v, want only %s", keys(setOf(own)), subB.ID)
		}
		// A user asking for everyone's sees only their own (or is refused).
		r := e.api.do(t, http.MethodGet, "/v1/webhooks?all=true", bob, nil)
		if r.Status == http.StatusOK {
			for _, w := range asSlice(dig(r.JSON(t), "webhooks")) {
				if str(w, "id") != subB.ID {
					t.Errorf("bob's list with all=true shows %s of %s", str(w, "id"), str(w, "owner_id"))
				}
			}
		} else if r.Status != http.StatusForbidden && r.Status != http.StatusBadRequest {
			t.Errorf("bob's list with all=true: %d %s", r.Status, secClip(r.Body, 200))
		}
		r = e.api.do(t, http.MethodGet, "/v1/webhooks?owner_id="+subA.Owner, bob, nil)
		if r.Status == http.StatusOK {
			for _, w := range asSlice(dig(r.JSON(t), "webhooks")) {
				if str(w, "id") != subB.ID {
					t.Errorf("bob's list with alice's owner_id shows %s", str(w, "id"))
				}
			}
		}
		all := whList(t, e, admin, "&all=true")
		if all[subA.ID] == nil || all[subB.ID] == nil {
			t.Errorf("admin's list of all (%d) misses alice's %v or bob's %v", len(all), all[subA.ID] != nil, all[subB.ID] != nil)
		}
		mine := whList(t, e, admin, "&owner_id="+subA.Owner)
		if len(mine) != 1 || mine[subA.ID] == nil {
			t.Errorf("admin's list of alice's: %v, want only %s", keys(setOf(mine)), subA.ID)
		}
		e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+subA.ID, admin, nil)
		e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+subA.ID+"/deliveries", admin, nil)
	})

	t.Run("NoSecretShown", func(t *testing.T) {
		for _, c := range []struct{ tok, path string }{
			{alice, "/v1/webhooks/" + subA.ID}, {alice, "/v1/webhooks"}, {alice, "/v1/webhooks/" + subA.ID + "/deliveries"},
			{bob, "/v1/webhooks/" + subB.ID}, {bob, "/v1/webhooks"},
			{admin, "/v1/webhooks?all=true"}, {admin, "/v1/webhooks/" + subA.ID},
		} {
			r := e.api.do(t, http.MethodGet, c.path, c.tok, nil)
			if r.Status != http.StatusOK {
				t.Errorf("GET %s: %d %s", c.path, r.Status, secClip(r.Body, 200))
				continue
			}
			for _, s := range []string{subA.Secret, subB.Secret} {
				if strings.Contains(string(r.Body), s) {
					t.Errorf("GET %s shows a signing secret", c.path)
				}
			}
			if strings.Contains(string(r.Body), "whsec_") {
				t.Errorf("GET %s holds a whsec_ value: %s", c.path, secClip(r.Body, 300))
			}
		}
	})

	t.Run("Unauthenticated", func(t *testing.T) {
		all := append(routes(subA.ID, deliveryID), struct {
			method, path string
			body         any
		}{http.MethodGet, "/v1/webhooks", nil}, struct {
			method, path string
			body         any
		}{http.MethodPost, "/v1/webhooks", map[string]any{"url": rcvA.URL, "event_types": []string{"*"}}})
		for _, rt := range all {
			r := e.api.do(t, rt.method, rt.path, "", rt.body)
			if msg := checkErrorBody(r, http.StatusUnauthorized, "UNAUTHENTICATED"); msg != "" {
				t.Errorf("%s %s without a token: %s", rt.method, rt.path, msg)
			}
		}
		if list := whList(t, e, alice, ""); len(list) != 1 {
			t.Errorf("alice has %d webhooks after the unauthenticated attempts, want 1", len(list))
		}
	})

	// Alice's own redelivery: the same event and delivery, a new attempt;
	// after a rotation it carries a signature under each secret.
	t.Run("RedeliverAndRotate", func(t *testing.T) {
		d := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/webhooks/"+subA.ID+"/deliveries/"+deliveryID+":redeliver", alice, map[string]any{})
		if str(d, "id") != deliveryID || str(d, "event_id") != created.eventID() {
			t.Errorf("redeliver answered %s, want delivery %s of event %s", secJSON(d), deliveryID, created.eventID())
		}
		again := rcvA.waitReceived(t, 30*time.Second, "the redelivery", func(got []whReceived) (bool, string) {
			n := 0
			for _, d := range got {
				if d.eventID() == created.eventID() {
					n++
				}
			}
			return n >= 2, fmt.Sprintf("%d deliveries of the event", n)
		})
		assertWhDeliveries(t, again, subA.Secret)
		assertSameEventSameBytes(t, again)

		rot := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/webhooks/"+subA.ID+":rotate-secret", alice, map[string]any{})
		newSecret := str(rot, "secret")
		rememberSecretAs("webhook signing secret", newSecret)
		if !strings.HasPrefix(newSecret, "whsec_") || newSecret == subA.Secret {
			t.Fatalf("rotation answered secret %s", redact(newSecret))
		}
		if exp, err := time.Parse(time.RFC3339Nano, str(rot, "previous_secret_expires_at")); err != nil ||
			exp.Before(time.Now().Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
			t.Errorf("previous_secret_expires_at %q, want about 24 h from now", str(rot, "previous_secret_expires_at"))
		}
		if w := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+subA.ID, alice, nil); str(w, "secret") != "" {
			t.Errorf("GET after rotation shows the secret")
		}
		e.api.must(t, http.StatusOK, http.MethodPost, "/v1/webhooks/"+subA.ID+"/deliveries/"+deliveryID+":redeliver", alice, map[string]any{})
		after := rcvA.waitReceived(t, 30*time.Second, "the redelivery after rotation", func(got []whReceived) (bool, string) {
			n := 0
			for _, d := range got {
				if d.eventID() == created.eventID() {
					n++
				}
			}
			return n >= 3, fmt.Sprintf("%d deliveries of the event", n)
		})
		var last whReceived
		for _, d := range after {
			if d.eventID() == created.eventID() {
				last = d
			}
		}
		// Both secrets verify the delivery after the rotation.
		for _, p := range checkWhDelivery(last, newSecret, subA.Secret) {
			t.Errorf("delivery after rotation: %s", p)
		}
		if n := strings.Count(last.Header.Get("Printfleet-Signature"), "v1="); n != 2 {
			t.Errorf("after rotation the signature carries %d v1 entries, want 2: %q", n, last.Header.Get("Printfleet-Signature"))
		}
		if last.deliveryID() != deliveryID {
			t.Errorf("redelivery under delivery id %s, want %s", last.deliveryID(), deliveryID)
		}
	})

	// A subscription receives only the types it asked for.
	t.Run("EventTypeFilter", func(t *testing.T) {
		witness := newWhReceiver(t, e, whOK)
		createWh(t, e, bob, witness.URL, "*")
		ids := whBlankOrders(t, e, bob, 1)
		witness.waitReceived(t, 60*time.Second, "bob's events at his \"*\" endpoint", func(got []whReceived) (bool, string) {
			return hasTypes(got, ids, whBlankTypes...)
		})
		for _, d := range rcvB.received(t) {
			if typ := d.Event.Type; typ != "order.shipped" && typ != "order.cancelled" {
				t.Errorf("a subscription to order.shipped and order.cancelled received %s", d)
			}
		}
	})

	// An endpoint that answers 410 Gone is disabled at once, and says why.
	t.Run("GoneDisables", func(t *testing.T) {
		carol := secToken(t, newSubject("wh-carol"), "user", time.Hour)
		gone := newWhReceiver(t, e, whMode{Status: http.StatusGone})
		sub := createWh(t, e, carol, gone.URL, "*")
		// A second, healthy endpoint of carol's witnesses her events.
		witness := newWhReceiver(t, e, whOK)
		createWh(t, e, carol, witness.URL, "*")
		whBlankOrders(t, e, carol, 1)
		var w map[string]any
		eventually(t, 60*time.Second, "endpoint disabled after 410", func() (bool, string) {
			w = e.api.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+sub.ID, carol, nil)
			return str(w, "status") == "WEBHOOK_STATUS_DISABLED", str(w, "status")
		})
		if reason := str(w, "disabled_reason"); !strings.Contains(reason, "410") {
			t.Errorf("disabled without saying the endpoint answered 410: disabled_reason %q", reason)
		} else {
			t.Logf("disabled: %q", reason)
		}
		log := whDeliveries(t, e, carol, sub.ID)
		if len(log) == 0 {
			t.Fatal("no delivery in the log of the disabled webhook")
		}
		var gone410 bool
		for _, d := range log {
			code, _ := num(d["response_status"])
			if code == http.StatusGone && str(d, "status") == "DELIVERY_STATUS_FAILED" {
				gone410 = true
			}
			if str(d, "status") == "DELIVERY_STATUS_PENDING" {
				t.Errorf("a delivery of the disabled webhook is still pending: %s", secJSON(d))
			}
		}
		if !gone410 {
			t.Errorf("no FAILED delivery with response_status 410 in the log: %s", secJSON(log))
		}
		// No retry of an answer 410, and nothing more once disabled.
		seen := gone.received(t)
		for _, d := range seen {
			if d.attempt() > 1 {
				t.Errorf("a 410 answer was retried: %s", d)
			}
		}
		next := whBlankOrders(t, e, carol, 1)
		witness.waitReceived(t, 60*time.Second, "the next order's events at the healthy endpoint", func(got []whReceived) (bool, string) {
			return hasTypes(got, next, whBlankTypes...)
		})
		if later := gone.received(t); len(later) != len(seen) {
			t.Errorf("the disabled endpoint received %d more deliveries", len(later)-len(seen))
		}
		// The owner fixes the endpoint and enables it: new events arrive.
		gone.setMode(t, whOK)
		en := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/webhooks/"+sub.ID+":enable", carol, map[string]any{})
		if str(en, "status") != "WEBHOOK_STATUS_ACTIVE" || str(en, "failing_since") != "" || str(en, "secret") != "" {
			t.Errorf("enable answered %s", secJSON(en))
		}
		fixed := whBlankOrders(t, e, carol, 1)
		gone.waitReceived(t, 60*time.Second, "events after enable", func(got []whReceived) (bool, string) {
			return hasTypes(got, fixed, whBlankTypes...)
		})
	})
}

// TestWebhooksSecretsNotLogged: no process of the fleet writes a signing
// secret ("whsec_...") to its log or span file: after a subscription of
// its own is created, rotated and delivered to (beside the other webhook
// tests running in parallel), every log and span file of the fleet is
// scanned. The suite's own log scan runs before the parallel tests.
func TestWebhooksSecretsNotLogged(t *testing.T) {
	e := need(t)
	t.Parallel()
	tok := secToken(t, newSubject("wh-logscan"), "user", time.Hour)
	whWaitAPI(t, e, tok)
	rcv := newWhReceiver(t, e, whOK)
	sub := createWh(t, e, tok, rcv.URL, "*")
	rot := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/webhooks/"+sub.ID+":rotate-secret", tok, map[string]any{})
	rememberSecretAs("webhook signing secret", str(rot, "secret"))
	ids := whBlankOrders(t, e, tok, 1)
	rcv.waitReceived(t, 60*time.Second, "the events", func(got []whReceived) (bool, string) {
		return hasTypes(got, ids, whBlankTypes...)
	})
	files, _ := filepath.Glob(filepath.Join(e.logs, "*.log"))
	spans, _ := filepath.Glob(filepath.Join(e.logs, "*.jsonl"))
	files = append(files, spans...)
	if len(files) == 0 {
		t.Fatalf("no log files in %s", e.logs)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(raw, []byte("whsec_")); i >= 0 {
			line := raw[max(0, bytes.LastIndexByte(raw[:i], '\n')+1):]
			if j := bytes.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			t.Errorf("%s holds a signing secret: %s", filepath.Base(f), whsecShape.ReplaceAllString(secClip(line, 400), "whsec_«redacted»"))
		}
	}
	t.Logf("%d log and span files hold no whsec_ value", len(files))
}

// whsecShape matches a signing secret.
var whsecShape = regexp.MustCompile(`whsec_[A-Za-z0-9_-]+`)

// setOf is the set of a map's keys.
func setOf[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
