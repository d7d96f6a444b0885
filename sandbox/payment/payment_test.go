package payment_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/printfleet/printfleet/sandbox/payment"
)

type client struct {
	t   *testing.T
	url string
}

func start(t *testing.T, o payment.Options) (*payment.Server, client) {
	t.Helper()
	s := payment.New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, client{t, srv.URL}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (c client) post(path, key, idem string, form url.Values) answer {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func charge(order string) url.Values {
	return url.Values{"amount": {"2499"}, "currency": {"usd"}, "payment_method": {"pm_card_visa"},
		"confirm": {"true"}, "metadata[order_id]": {order}}
}

func errField(a answer, f string) string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e[f].(string)
	return s
}

const key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"

func TestChargeAndReplay(t *testing.T) {
	t.Parallel()
	s, c := start(t, payment.Options{Seed: 1})
	first := c.post("/v1/payment_intents", key, "ord_1", charge("ord_1"))
	if first.status != 200 || first.body["status"] != "succeeded" || first.body["object"] != "payment_intent" {
		t.Fatalf("first charge: %d %s", first.status, first.raw)
	}
	if id, _ := first.body["id"].(string); !strings.HasPrefix(id, "pi_") {
		t.Fatalf("id = %q, want pi_…", id)
	}
	if md, _ := first.body["metadata"].(map[string]any); md["order_id"] != "ord_1" {
		t.Fatalf("metadata = %v", first.body["metadata"])
	}
	replay := c.post("/v1/payment_intents", key, "ord_1", charge("ord_1"))
	if replay.status != 200 || replay.raw != first.raw || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d replayed=%q body equal=%v", replay.status, replay.header.Get("Idempotent-Replayed"), replay.raw == first.raw)
	}
	other := c.post("/v1/payment_intents", key, "ord_1", url.Values{"amount": {"100"}, "currency": {"usd"}})
	if other.status != 400 || errField(other, "type") != "idempotency_error" {
		t.Fatalf("same key, other params: %d %s", other.status, other.raw)
	}
	l := s.Payments()
	if got := l.Orders["ord_1"].SuccessfulCharges; got != 1 {
		t.Fatalf("successful charges for ord_1 = %d, want 1", got)
	}
	if st := s.Stats(); st.Replays != 1 || st.IdempotencyConflicts != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDeclines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pm    string
		declineRate float64
		code        string
		declineCode string
	}{
		{"test card", "pm_card_chargeDeclined", 0, "card_declined", "generic_decline"},
		{"insufficient funds", "pm_card_chargeDeclinedInsufficientFunds", 0, "card_declined", "insufficient_funds"},
		{"expired", "pm_card_chargeDeclinedExpiredCard", 0, "expired_card", "expired_card"},
		{"decline rate", "pm_card_visa", 1, "card_declined", "generic_decline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := start(t, payment.Options{Faults: payment.Faults{DeclineRate: tc.declineRate}})
			form := charge("ord_d")
			form.Set("payment_method", tc.pm)
			a := c.post("/v1/payment_intents", key, "k", form)
			if a.status != 402 || errField(a, "type") != "card_error" || errField(a, "code") != tc.code || errField(a, "decline_code") != tc.declineCode {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
			// The decline is the key's answer from now on.
			again := c.post("/v1/payment_intents", key, "k", form)
			if again.status != 402 || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay of decline: %d %s", again.status, again.raw)
			}
			if o := s.Payments().Orders["ord_d"]; o.Declines != 1 || o.SuccessfulCharges != 0 {
				t.Fatalf("ledger = %+v", o)
			}
		})
	}
}

func TestInjectedErrorIsNotSavedForTheKey(t *testing.T) {
	t.Parallel()
	s, c := start(t, payment.Options{Faults: payment.Faults{ErrorNext: 2}})
	for i := range 2 {
		a := c.post("/v1/payment_intents", key, "ord_e", charge("ord_e"))
		if a.status != 500 || errField(a, "type") != "api_error" {
			t.Fatalf("try %d: %d %s", i, a.status, a.raw)
		}
	}
	a := c.post("/v1/payment_intents", key, "ord_e", charge("ord_e"))
	if a.status != 200 || a.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("third try: %d replayed=%q", a.status, a.header.Get("Idempotent-Replayed"))
	}
	if got := s.Payments().Orders["ord_e"].SuccessfulCharges; got != 1 {
		t.Fatalf("charges = %d", got)
	}
	if st := s.Stats(); st.InjectedErrors != 2 {
		t.Fatalf("injected = %d", st.InjectedErrors)
	}
}

func TestOutageAndFaultSwitchOverHTTP(t *testing.T) {
	t.Parallel()
	s, c := start(t, payment.Options{})
	resp, err := http.Post(c.url+"/_sandbox/faults", "application/json", strings.NewReader(`{"outage": true, "latency_ms": 30}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	if f := s.Faults(); !f.Outage || f.LatencyMS != 30 {
		t.Fatalf("faults = %+v", f)
	}
	began := time.Now()
	a := c.post("/v1/payment_intents", key, "o", charge("o"))
	if a.status != 503 || time.Since(began) < 30*time.Millisecond {
		t.Fatalf("outage: %d after %v", a.status, time.Since(began))
	}
	resp, _ = http.Post(c.url+"/_sandbox/faults", "application/json", strings.NewReader(`{"error_rate": 2}`))
	if resp.StatusCode != 400 {
		t.Fatalf("error_rate 2 accepted: %v", resp.Status)
	}
	resp.Body.Close()
	resp, _ = http.Post(c.url+"/_sandbox/faults", "application/json", strings.NewReader(`{"outage": false}`))
	resp.Body.Close()
	if a := c.post("/v1/payment_intents", key, "o", charge("o")); a.status != 200 {
		t.Fatalf("after outage: %d %s", a.status, a.raw)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	_, c := start(t, payment.Options{})
	for _, k := range []string{"", "pk_test_abc", "sk_test_"} {
		if a := c.post("/v1/payment_intents", k, "", charge("o")); a.status != 401 {
			t.Errorf("key %q: status %d", k, a.status)
		}
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	_, c := start(t, payment.Options{})
	tests := []struct {
		name  string
		edit  func(url.Values)
		param string
	}{
		{"no amount", func(v url.Values) { v.Del("amount") }, "amount"},
		{"negative amount", func(v url.Values) { v.Set("amount", "-5") }, "amount"},
		{"no currency", func(v url.Values) { v.Del("currency") }, "currency"},
		{"bad currency", func(v url.Values) { v.Set("currency", "dollars") }, "currency"},
		{"confirm without method", func(v url.Values) { v.Del("payment_method") }, "payment_method"},
		{"unknown method", func(v url.Values) { v.Set("payment_method", "card_123") }, "payment_method"},
	}
	for _, tc := range tests {
		form := charge("o")
		tc.edit(form)
		a := c.post("/v1/payment_intents", key, "v-"+tc.name, form)
		if a.status != 400 || errField(a, "type") != "invalid_request_error" || errField(a, "param") != tc.param {
			t.Errorf("%s: %d %s", tc.name, a.status, a.raw)
		}
		// A validation failure is not saved: the key can be used again.
		if ok := c.post("/v1/payment_intents", key, "v-"+tc.name, charge("o-"+tc.name)); ok.status != 200 {
			t.Errorf("%s: key not reusable after a validation error: %d", tc.name, ok.status)
		}
	}
}

func TestConcurrentRequestsWithOneKeyChargeOnce(t *testing.T) {
	t.Parallel()
	s, c := start(t, payment.Options{Faults: payment.Faults{LatencyMS: 5}})
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for range 20 {
		wg.Go(func() { statuses <- c.post("/v1/payment_intents", key, "ord_c", charge("ord_c")).status })
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 && st != 409 {
			t.Errorf("status %d, want 200 or 409", st)
		}
	}
	if got := s.Payments().Orders["ord_c"].SuccessfulCharges; got != 1 {
		t.Fatalf("charges = %d, want 1", got)
	}
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	s, c := start(t, payment.Options{})
	pi := c.post("/v1/payment_intents", key, "ord_r", charge("ord_r"))
	id := pi.body["id"].(string)
	part := c.post("/v1/refunds", key, "r1", url.Values{"payment_intent": {id}, "amount": {"499"}})
	if part.status != 200 || part.body["object"] != "refund" || part.body["amount"] != float64(499) || part.body["status"] != "succeeded" {
		t.Fatalf("partial refund: %d %s", part.status, part.raw)
	}
	if again := c.post("/v1/refunds", key, "r1", url.Values{"payment_intent": {id}, "amount": {"499"}}); again.raw != part.raw {
		t.Fatalf("refund replay differs: %s", again.raw)
	}
	if big := c.post("/v1/refunds", key, "r2", url.Values{"payment_intent": {id}, "amount": {"5000"}}); big.status != 400 || errField(big, "code") != "amount_too_large" {
		t.Fatalf("too large: %d %s", big.status, big.raw)
	}
	rest := c.post("/v1/refunds", key, "r3", url.Values{"payment_intent": {id}})
	if rest.status != 200 || rest.body["amount"] != float64(2000) {
		t.Fatalf("rest: %d %s", rest.status, rest.raw)
	}
	if done := c.post("/v1/refunds", key, "r4", url.Values{"payment_intent": {id}}); done.status != 400 || errField(done, "code") != "charge_already_refunded" {
		t.Fatalf("after full refund: %d %s", done.status, done.raw)
	}
	if missing := c.post("/v1/refunds", key, "", url.Values{"payment_intent": {"pi_nope"}}); missing.status != 404 {
		t.Fatalf("unknown intent: %d", missing.status)
	}
	if o := s.Payments().Orders["ord_r"]; o.AmountCharged != 2499 || o.AmountRefunded != 2499 {
		t.Fatalf("ledger = %+v", o)
	}
}

func TestRecordingEndpointsAndReset(t *testing.T) {
	t.Parallel()
	s, c := start(t, payment.Options{})
	c.post("/v1/payment_intents", key, "a", charge("ord_a"))
	c.post("/v1/payment_intents", key, "b", charge("ord_a")) // a second key: a second charge
	resp, err := http.Get(c.url + "/_sandbox/payments")
	if err != nil {
		t.Fatal(err)
	}
	var l payment.Ledger
	_ = json.NewDecoder(resp.Body).Decode(&l)
	resp.Body.Close()
	if len(l.Charges) != 2 || l.Orders["ord_a"].SuccessfulCharges != 2 {
		t.Fatalf("ledger = %+v", l)
	}
	resp, _ = http.Get(c.url + "/_sandbox/stats")
	var st payment.Stats
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Requests != 2 || st.Succeeded != 2 {
		t.Fatalf("stats = %+v", st)
	}
	resp, _ = http.Post(c.url+"/_sandbox/reset", "", nil)
	resp.Body.Close()
	if l := s.Payments(); len(l.Charges) != 0 || s.Stats().Requests != 0 {
		t.Fatalf("after reset: %+v", l)
	}
}

func TestFaultsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{payment.EnvLatencyMS: "15", payment.EnvErrorRate: "0.25", payment.EnvDeclineRate: "0.1", payment.EnvOutage: "true"}
	f, err := payment.FaultsFromEnv(func(k string) string { return env[k] })
	if err != nil || f != (payment.Faults{LatencyMS: 15, ErrorRate: 0.25, DeclineRate: 0.1, Outage: true}) {
		t.Fatalf("got %+v, %v", f, err)
	}
	env[payment.EnvErrorRate] = "lots"
	if _, err := payment.FaultsFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("bad error rate accepted")
	}
}
