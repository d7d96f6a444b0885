package e2e

// Helpers of the outbound webhook tests: the sandbox's webhook receiver, the
// subscription and delivery-log REST calls, and the checks every delivery
// must pass (headers, payload shape, signature).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/webhooksig"
)

// whProc is the fleet's name of the webhooks process.
const whProc = "webhooks"

// whAPIVersion is the api_version every payload carries.
const whAPIVersion = "2026-12-01"

// whOrderTypes and whDesignTypes are the event types a subscriber may see.
var (
	whOrderTypes = []string{"order.created", "order.on_hold", "order.paid", "order.payment_failed", "order.rejected",
		"order.in_production", "order.shipped", "order.delivered", "order.cancelled", "order.refunded"}
	whDesignTypes = []string{"design.ready", "design.rejected"}
)

// ---- the sandbox receiver ------------------------------------------------

// whMode is a receiver's behaviour; every field is always sent, so a mode
// change replaces the whole mode.
type whMode struct {
	Status     int    `json:"status"`
	DelayMS    int    `json:"delay_ms"`
	Hang       bool   `json:"hang"`
	RedirectTo string `json:"redirect_to"`
}

var whOK = whMode{Status: http.StatusOK}

// whReceiver is one receiver of the sandbox.
type whReceiver struct {
	ID, URL string
	base    string
}

// whReceived is one request the receiver recorded, with its payload decoded.
type whReceived struct {
	ReceivedAt time.Time
	Header     http.Header
	Body       []byte
	Answered   int

	Event   whEvent
	DecodeE error // the body is not the payload
}

// whEvent is the payload of a delivery.
type whEvent struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	APIVersion string         `json:"api_version"`
	CreatedAt  string         `json:"created_at"`
	Data       map[string]any `json:"data"`
}

func (d whReceived) eventID() string    { return d.Header.Get("Printfleet-Event-Id") }
func (d whReceived) deliveryID() string { return d.Header.Get("Printfleet-Delivery-Id") }
func (d whReceived) attempt() int {
	n, _ := strconv.Atoi(d.Header.Get("Printfleet-Delivery-Attempt"))
	return n
}
func (d whReceived) ok() bool { return d.Answered >= 200 && d.Answered < 300 }

// orderID is the order the event is about ("" for a design event).
func (d whReceived) orderID() string { return str(d.Event.Data, "order", "id") }

func (d whReceived) createdAt() time.Time {
	ts, _ := time.Parse(time.RFC3339Nano, d.Event.CreatedAt)
	return ts
}

func (d whReceived) String() string {
	return fmt.Sprintf("%s %s event %s delivery %s attempt %s answered %d", d.ReceivedAt.Format("15:04:05.000"),
		d.Header.Get("Printfleet-Event-Type"), d.eventID(), d.deliveryID(), d.Header.Get("Printfleet-Delivery-Attempt"), d.Answered)
}

func whHTTP(t testing.TB, method, target string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// newWhReceiver creates a receiver in the sandbox with mode.
func newWhReceiver(t testing.TB, e *environment, mode whMode) *whReceiver {
	t.Helper()
	base := e.layout.ReceiverURL()
	code, raw := whHTTP(t, http.MethodPost, base+"/receivers", mode)
	if code != http.StatusCreated {
		t.Fatalf("POST %s/receivers: %d %s", base, code, raw)
	}
	var r whReceiver
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == "" || r.URL == "" {
		t.Fatalf("POST /receivers answered %s (%v)", raw, err)
	}
	r.base = base
	return &r
}

// setMode changes the receiver's behaviour at once.
func (r *whReceiver) setMode(t testing.TB, mode whMode) {
	t.Helper()
	code, raw := whHTTP(t, http.MethodPut, r.base+"/receivers/"+r.ID+"/mode", mode)
	if code >= 300 {
		t.Fatalf("PUT mode of receiver %s: %d %s", r.ID, code, raw)
	}
}

// received lists what the receiver recorded, in arrival order.
func (r *whReceiver) received(t testing.TB) []whReceived {
	t.Helper()
	code, raw := whHTTP(t, http.MethodGet, r.base+"/receivers/"+r.ID+"/deliveries", nil)
	if code != http.StatusOK {
		t.Fatalf("GET deliveries of receiver %s: %d %s", r.ID, code, raw)
	}
	var page struct {
		Deliveries []struct {
			ReceivedAt string                     `json:"received_at"`
			Headers    map[string]json.RawMessage `json:"headers"`
			Body       string                     `json:"body"`
			Answered   int                        `json:"answered"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatalf("receiver deliveries are not the documented JSON: %v: %s", err, secClip(raw, 400))
	}
	out := make([]whReceived, 0, len(page.Deliveries))
	for _, d := range page.Deliveries {
		at, err := time.Parse(time.RFC3339Nano, d.ReceivedAt)
		if err != nil {
			t.Fatalf("receiver's received_at %q: %v", d.ReceivedAt, err)
		}
		h := http.Header{}
		for k, v := range d.Headers {
			var one string
			var many []string
			switch {
			case json.Unmarshal(v, &one) == nil:
				h.Add(k, one)
			case json.Unmarshal(v, &many) == nil:
				for _, s := range many {
					h.Add(k, s)
				}
			}
		}
		rd := whReceived{ReceivedAt: at, Header: h, Body: []byte(d.Body), Answered: d.Answered}
		rd.DecodeE = json.Unmarshal(rd.Body, &rd.Event)
		out = append(out, rd)
	}
	return out
}

// stats are the receiver's counters.
func (r *whReceiver) stats(t testing.TB) (received, inFlight int) {
	t.Helper()
	code, raw := whHTTP(t, http.MethodGet, r.base+"/receivers/"+r.ID+"/stats", nil)
	if code != http.StatusOK {
		t.Fatalf("GET stats of receiver %s: %d %s", r.ID, code, raw)
	}
	var s struct {
		Received int `json:"received"`
		InFlight int `json:"in_flight"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("receiver stats %s: %v", raw, err)
	}
	return s.Received, s.InFlight
}

// waitReceived polls the receiver until cond holds on what it recorded.
func (r *whReceiver) waitReceived(t testing.TB, timeout time.Duration, what string, cond func([]whReceived) (bool, string)) []whReceived {
	t.Helper()
	var got []whReceived
	eventually(t, timeout, what, func() (bool, string) {
		got = r.received(t)
		return cond(got)
	})
	return got
}

// ---- subscriptions and the delivery log over REST ------------------------

// whSub is a subscription created over REST, with its secret.
type whSub struct {
	ID, Secret, Owner string
	Created           map[string]any
}

// createWh subscribes url to types for the token's user; the answer must
// carry the secret, which is remembered for the log scan.
func createWh(t testing.TB, e *environment, tok, target string, types ...string) whSub {
	t.Helper()
	r := e.api.do(t, http.MethodPost, "/v1/webhooks", tok, map[string]any{
		"url": target, "event_types": types, "description": "e2e " + t.Name(),
	})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("POST /v1/webhooks %s: %d %s", target, r.Status, secClip(r.Body, 600))
	}
	w := r.JSON(t)
	s := whSub{ID: str(w, "id"), Secret: str(w, "secret"), Owner: str(w, "owner_id"), Created: w}
	if _, err := uuid.Parse(s.ID); err != nil {
		t.Fatalf("created webhook without a uuid id: %s", r.Body)
	}
	if !strings.HasPrefix(s.Secret, "whsec_") || len(s.Secret) < len("whsec_")+40 {
		t.Fatalf("created webhook's secret %s is not whsec_ + base64url of 32 bytes", redact(s.Secret))
	}
	rememberSecretAs("webhook signing secret", s.Secret)
	if str(w, "status") != "WEBHOOK_STATUS_ACTIVE" || str(w, "url") != target {
		t.Errorf("created webhook: status %q url %q, want ACTIVE and %s", str(w, "status"), str(w, "url"), target)
	}
	return s
}

// whDeliveries lists every delivery of a subscription (all pages).
func whDeliveries(t testing.TB, e *environment, tok, webhookID string) []map[string]any {
	t.Helper()
	return listAll(t, e, tok, "/v1/webhooks/"+webhookID+"/deliveries?page_size=100", "deliveries")
}

// whList lists the webhooks the token sees with query (all pages), by id.
func whList(t testing.TB, e *environment, tok, query string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range listAll(t, e, tok, "/v1/webhooks?page_size=100"+query, "webhooks") {
		out[str(m, "id")] = m
	}
	return out
}

// num reads a JSON number or a number in a string (protojson writes int64
// as a string); ok is false when neither.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// waitLogSucceeded waits until the delivery log of the subscription holds
// a SUCCEEDED delivery for every event id in want, and returns the log.
func waitLogSucceeded(t testing.TB, e *environment, tok, webhookID string, want []string, timeout time.Duration) []map[string]any {
	t.Helper()
	var log []map[string]any
	eventually(t, timeout, "delivery log succeeded for every event", func() (bool, string) {
		log = whDeliveries(t, e, tok, webhookID)
		ok := map[string]bool{}
		for _, d := range log {
			if str(d, "status") == "DELIVERY_STATUS_SUCCEEDED" {
				ok[str(d, "event_id")] = true
			}
		}
		var missing []string
		for _, id := range want {
			if !ok[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d not succeeded in the log (%d rows)", len(missing), len(want), len(log))
	})
	return log
}

// ---- checks of one delivery ----------------------------------------------

// checkWhDelivery returns what is wrong with one recorded delivery: the
// headers of the contract, the payload's shape, and the signature under
// one of secrets (each must verify when several are given).
func checkWhDelivery(d whReceived, secrets ...string) []string {
	var p []string
	h := d.Header
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		p = append(p, fmt.Sprintf("Content-Type %q", ct))
	}
	if ua := h.Get("User-Agent"); ua != "printfleet-webhooks/1" {
		p = append(p, fmt.Sprintf("User-Agent %q", ua))
	}
	if d.DecodeE != nil {
		return append(p, fmt.Sprintf("body is not the JSON payload: %v: %s", d.DecodeE, secClip(d.Body, 200)))
	}
	ev := d.Event
	if _, err := uuid.Parse(ev.ID); err != nil {
		p = append(p, fmt.Sprintf("event id %q is not a uuid", ev.ID))
	}
	if h.Get("Printfleet-Event-Id") != ev.ID {
		p = append(p, fmt.Sprintf("Printfleet-Event-Id %q differs from the body's id %q", h.Get("Printfleet-Event-Id"), ev.ID))
	}
	if h.Get("Printfleet-Event-Type") != ev.Type {
		p = append(p, fmt.Sprintf("Printfleet-Event-Type %q differs from the body's type %q", h.Get("Printfleet-Event-Type"), ev.Type))
	}
	if !slices.Contains(whOrderTypes, ev.Type) && !slices.Contains(whDesignTypes, ev.Type) {
		p = append(p, fmt.Sprintf("unknown event type %q", ev.Type))
	}
	if _, err := uuid.Parse(d.deliveryID()); err != nil {
		p = append(p, fmt.Sprintf("Printfleet-Delivery-Id %q is not a uuid", d.deliveryID()))
	}
	if d.attempt() < 1 {
		p = append(p, fmt.Sprintf("Printfleet-Delivery-Attempt %q", h.Get("Printfleet-Delivery-Attempt")))
	}
	if ev.APIVersion != whAPIVersion {
		p = append(p, fmt.Sprintf("api_version %q, want %q", ev.APIVersion, whAPIVersion))
	}
	if ts, err := time.Parse(time.RFC3339Nano, ev.CreatedAt); err != nil || !strings.HasSuffix(ev.CreatedAt, "Z") || ts.IsZero() {
		p = append(p, fmt.Sprintf("created_at %q is not RFC 3339 UTC", ev.CreatedAt))
	}
	switch {
	case strings.HasPrefix(ev.Type, "order."):
		if str(ev.Data, "order", "id") == "" {
			p = append(p, "an order event without data.order")
		}
		if _, has := ev.Data["shipment"]; has != (ev.Type == "order.shipped" || ev.Type == "order.delivered") {
			p = append(p, fmt.Sprintf("%s with data.shipment %v", ev.Type, has))
		}
		if _, has := ev.Data["refund"]; has != (ev.Type == "order.refunded") {
			p = append(p, fmt.Sprintf("%s with data.refund %v", ev.Type, has))
		}
	case strings.HasPrefix(ev.Type, "design."):
		if str(ev.Data, "design", "id") == "" {
			p = append(p, "a design event without data.design")
		}
	}
	sig := h.Get(webhooksig.Header)
	for i, s := range secrets {
		if err := webhooksig.Verify(sig, d.Body, s, webhooksig.DefaultTolerance, d.ReceivedAt); err != nil {
			p = append(p, fmt.Sprintf("signature under secret #%d does not verify: %v (header %q)", i+1, err, sig))
		}
	}
	return p
}

// assertWhDeliveries checks every recorded delivery and fails the test for
// each problem found.
func assertWhDeliveries(t testing.TB, got []whReceived, secrets ...string) {
	t.Helper()
	for _, d := range got {
		for _, p := range checkWhDelivery(d, secrets...) {
			t.Errorf("delivery %s: %s", d, p)
		}
	}
}

// assertSameEventSameBytes checks that every delivery of an event id
// carried the same type, delivery id and body bytes (the body is rendered
// once and stored), and returns the deliveries grouped by event id.
func assertSameEventSameBytes(t testing.TB, got []whReceived) map[string][]whReceived {
	t.Helper()
	byEvent := map[string][]whReceived{}
	for _, d := range got {
		byEvent[d.eventID()] = append(byEvent[d.eventID()], d)
	}
	for id, ds := range byEvent {
		for _, d := range ds[1:] {
			if d.Header.Get("Printfleet-Event-Type") != ds[0].Header.Get("Printfleet-Event-Type") {
				t.Errorf("event %s delivered as %q and as %q", id, ds[0].Header.Get("Printfleet-Event-Type"), d.Header.Get("Printfleet-Event-Type"))
			}
			if d.deliveryID() != ds[0].deliveryID() {
				t.Errorf("event %s to one endpoint under two delivery ids: %s and %s", id, ds[0].deliveryID(), d.deliveryID())
			}
			if !bytes.Equal(d.Body, ds[0].Body) {
				t.Errorf("event %s: a retry sent other bytes:\n%s\n%s", id, secClip(ds[0].Body, 300), secClip(d.Body, 300))
			}
		}
	}
	return byEvent
}

// assertOneEventPerChange checks that no change of an order was announced
// under two event ids: per order, one event id per type (order.shipped is
// one per shipment, and these tests make at most one).
func assertOneEventPerChange(t testing.TB, got []whReceived) {
	t.Helper()
	ids := map[[2]string]map[string]bool{}
	for _, d := range got {
		if d.orderID() == "" {
			continue
		}
		k := [2]string{d.orderID(), d.Event.Type}
		if ids[k] == nil {
			ids[k] = map[string]bool{}
		}
		ids[k][d.eventID()] = true
	}
	for k, set := range ids {
		if len(set) > 1 {
			t.Errorf("order %s: %s announced under %d event ids %v (a change must keep its event id)", k[0], k[1], len(set), keys(set))
		}
	}
}

// typesByOrder maps order id → event type → the deliveries of it.
func typesByOrder(got []whReceived) map[string]map[string][]whReceived {
	out := map[string]map[string][]whReceived{}
	for _, d := range got {
		if d.orderID() == "" {
			continue
		}
		if out[d.orderID()] == nil {
			out[d.orderID()] = map[string][]whReceived{}
		}
		out[d.orderID()][d.Event.Type] = append(out[d.orderID()][d.Event.Type], d)
	}
	return out
}

// hasTypes reports whether every order of orders has a 2xx-answered
// delivery of each type, and names what is missing.
func hasTypes(got []whReceived, orders []string, types ...string) (bool, string) {
	by := typesByOrder(got)
	var missing []string
	for _, o := range orders {
		for _, typ := range types {
			if !slices.ContainsFunc(by[o][typ], whReceived.ok) {
				missing = append(missing, o[len(o)-6:]+" "+typ)
			}
		}
	}
	return len(missing) == 0, fmt.Sprintf("%d recorded; missing %v", len(got), missing)
}

// assertNewestFirst checks that a delivery log is ordered newest first.
func assertNewestFirst(t testing.TB, log []map[string]any) {
	t.Helper()
	for i := 1; i < len(log); i++ {
		a, errA := time.Parse(time.RFC3339Nano, str(log[i-1], "created_at"))
		b, errB := time.Parse(time.RFC3339Nano, str(log[i], "created_at"))
		if errA != nil || errB != nil || b.After(a) {
			t.Errorf("delivery log not newest first at row %d: %s then %s", i, str(log[i-1], "created_at"), str(log[i], "created_at"))
			return
		}
	}
}

// okEventIDs is the set of event ids answered 2xx.
func okEventIDs(got []whReceived) map[string]bool {
	out := map[string]bool{}
	for _, d := range got {
		if d.ok() {
			out[d.eventID()] = true
		}
	}
	return out
}

// containsAny reports whether s contains one of subs.
func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(x string) bool { return strings.Contains(s, x) })
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- orders --------------------------------------------------------------

// whBlankOrders places n blank sticker orders (no stock, no rendering) for
// the token's user and returns their ids.
func whBlankOrders(t *testing.T, e *environment, tok string, n int) []string {
	t.Helper()
	variant := mustSticker(t, e)
	var ids []string
	for range n {
		r := secCreateOrder(t, e, tok, secBlankOrder(variant, 1))
		if r.Status != http.StatusCreated {
			t.Fatalf("create order: %d %s", r.Status, secClip(r.Body, 400))
		}
		ids = append(ids, str(r.JSON(t), "id"))
	}
	return ids
}

// whBlankTypes are the events of a blank order's way to production.
var whBlankTypes = []string{"order.created", "order.paid", "order.in_production"}

// quantile is the q-quantile (0..1) of ds by the nearest-rank method.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// whWaitAPI waits until the gateway reaches the webhooks service: the
// process reports ready before its gRPC listener serves, and the gateway's
// connection to it backs off after a refused dial, so the first calls after
// a (re)start may answer 503.
func whWaitAPI(t testing.TB, e *environment, tok string) {
	t.Helper()
	began := time.Now()
	var last response
	eventually(t, 30*time.Second, "the webhooks API reachable", func() (bool, string) {
		last = e.api.do(t, http.MethodGet, "/v1/webhooks?page_size=1", tok, nil)
		return last.Status == http.StatusOK, fmt.Sprintf("%d %s", last.Status, secClip(last.Body, 200))
	})
	if waited := time.Since(began); waited > 200*time.Millisecond {
		t.Logf("the webhooks API answered 200 only after %v", waited.Round(time.Millisecond))
	}
}

// whHealWebhooks starts the webhooks process again if a test left it down.
func whHealWebhooks(t testing.TB, e *environment) {
	t.Helper()
	if e.fleet.Pid(whProc) != 0 {
		return
	}
	t.Logf("restarting %s, found stopped", whProc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.fleet.Restart(ctx, whProc, 90*time.Second); err != nil {
		t.Fatalf("restart %s: %v", whProc, err)
	}
	whWaitAPI(t, e, token(t, newSubject("wh-heal"), "user", time.Hour))
}
