package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/console"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

const (
	jwtSecret  = "console-test-jwt-secret-0123456789abcdef"
	consoleKey = "console-test-csrf-key-0123456789abcdef!!"
	traceURL   = "http://jaeger.example:16686/trace/{trace_id}"
)

type env struct {
	t   *testing.T
	srv *httptest.Server
	f   *fakes
	// tokens by name: admin, support, user, expired.
	tokens map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: config.Secret(jwtSecret), Issuer: "printfleet-dev",
		Audience: "printfleet", Leeway: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakes()
	market := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "# TYPE printfleet_marketplace_budget_used_ratio gauge\n"+
			`printfleet_marketplace_budget_used_ratio{marketplace="shopify",shop="alice-tees"} 0.42`+"\n")
	}))
	t.Cleanup(market.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := console.New(ctx, console.Options{
		Config: console.Config{Key: consoleKey, TraceURL: traceURL, ImageOrigins: []string{s3Origin},
			Metrics:     []string{"marketplace=" + market.URL + "/metrics"},
			SampleEvery: time.Hour, SampleFloor: time.Hour},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Verifier: v, Orders: f, Catalog: f, Webhooks: f, Ops: f,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(edge.RequestID(c))
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, f: f, tokens: map[string]string{}}
	for name, o := range map[string]auth.MintOptions{
		"admin":   {Subject: "root", Roles: []string{principal.RoleAdmin}, TTL: time.Hour},
		"support": {Subject: "helpdesk", Roles: []string{principal.RoleSupport}, TTL: time.Hour},
		"user":    {Subject: "alice", Roles: []string{principal.RoleUser}, TTL: time.Hour},
		"expired": {Subject: "root", Roles: []string{principal.RoleAdmin}, TTL: time.Minute, Now: time.Now().Add(-time.Hour)},
	} {
		o.Issuer, o.Audience = "printfleet-dev", "printfleet"
		tok, err := auth.Mint([]byte(jwtSecret), o)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = tok
	}
	return e
}

type resp struct {
	status int
	header http.Header
	body   string
}

// do sends a request without following redirects; the session is the
// cookie (or the Authorization header when bearer is set).
func (e *env) do(method, path string, form url.Values, session *http.Cookie, hdr map[string]string) resp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if session != nil {
		req.AddCookie(session)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, header: r.Header, body: string(b)}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// login signs in with tok through the form and returns the session cookie.
func (e *env) login(tok string) *http.Cookie {
	e.t.Helper()
	page := e.do("GET", "/console/login", nil, nil, nil)
	nonce := cookie(page.header, "printfleet_console_login")
	if nonce == nil {
		e.t.Fatal("the sign-in page set no nonce cookie")
	}
	r := e.do("POST", "/console/login", url.Values{"csrf": {field(e.t, page.body, "csrf")}, "token": {tok}}, nonce, nil)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("sign-in: %d %s", r.status, r.body)
	}
	s := cookie(r.header, "printfleet_console")
	if s == nil || s.Value == "" {
		e.t.Fatal("sign-in set no session cookie")
	}
	return s
}

func cookie(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// field is the value of the first hidden input named name.
func field(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s field in the page", name)
	}
	return m[1]
}

// formFields returns the hidden csrf and action_id of the form with id.
func formFields(t *testing.T, body, id string) (csrf, actionID string) {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no form %s in the page", id)
	}
	form := body[i:]
	form = form[:strings.Index(form, "</form>")]
	return field(t, form, "csrf"), field(t, form, "action_id")
}

// pages are every page a reader can open.
var pages = []string{"/console", "/console/", "/console/orders", "/console/orders?q=" + externalID, "/console/orders/" + orderID,
	"/console/stuck", "/console/dead-letters", "/console/dead-letters?queue=" + queueName, "/console/dead-letters/" + letterID,
	"/console/stores", "/console/audit"}

// TestRefusesNonOperators: without a token, with a user's token, an expired
// one or a forged one — by cookie or header — every page and action answers
// 403 with no data, and no upstream is asked anything.
func TestRefusesNonOperators(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	forged := e.tokens["admin"][:len(e.tokens["admin"])-4] + "AAAA"
	for _, who := range []struct {
		name    string
		session *http.Cookie
		hdr     map[string]string
	}{
		{"no token", nil, nil},
		{"user cookie", &http.Cookie{Name: "printfleet_console", Value: e.tokens["user"]}, nil},
		{"user header", nil, bearer(e.tokens["user"])},
		{"expired cookie", &http.Cookie{Name: "printfleet_console", Value: e.tokens["expired"]}, nil},
		{"expired header", nil, bearer(e.tokens["expired"])},
		{"forged cookie", &http.Cookie{Name: "printfleet_console", Value: forged}, nil},
	} {
		for _, p := range pages {
			r := e.do("GET", p, nil, who.session, who.hdr)
			if r.status != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", who.name, p, r.status)
			}
			for _, data := range []string{orderID, externalID, queueName, letterID, "alice-tees", "Alice Tees"} {
				if strings.Contains(r.body, data) {
					t.Errorf("%s GET %s: the refusal shows %q", who.name, p, data)
				}
			}
		}
		for _, p := range []string{"/console/dead-letters/" + letterID + "/replay", "/console/dead-letters/" + letterID + "/discard",
			"/console/queues/" + queueName + "/replay"} {
			r := e.do("POST", p, url.Values{"reason": {"because"}, "action_id": {uuid.NewString()}}, who.session, who.hdr)
			if r.status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", who.name, p, r.status)
			}
		}
	}
	if calls := e.f.seen(); len(calls) != 0 {
		t.Errorf("refused requests reached the services: %+v", calls)
	}
	// An expired session cookie is cleared.
	r := e.do("GET", "/console/", nil, &http.Cookie{Name: "printfleet_console", Value: e.tokens["expired"]}, nil)
	if c := cookie(r.header, "printfleet_console"); c == nil || c.MaxAge >= 0 {
		t.Errorf("an expired session's cookie was not cleared: %+v", c)
	}
}

// TestLoginSession: the form signs an operator in with an HttpOnly,
// SameSite=Strict cookie under /console that expires with the token
// (Secure behind a trusted TLS proxy); a user's token, a bad token or a
// missing CSRF token opens nothing; sign-out clears the cookie.
func TestLoginSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.login(e.tokens["admin"])
	if !s.HttpOnly || s.SameSite != http.SameSiteStrictMode || s.Path != "/console" || s.Secure {
		t.Errorf("session cookie: %+v", s)
	}
	if until := time.Until(s.Expires); until < 58*time.Minute || until > 61*time.Minute {
		t.Errorf("session expires in %s, want the token's hour", until)
	}
	if r := e.do("GET", "/console/", nil, s, nil); r.status != http.StatusOK || !strings.Contains(r.body, "root (admin)") {
		t.Fatalf("signed-in overview: %d", r.status)
	}

	page := e.do("GET", "/console/login", nil, nil, map[string]string{"X-Forwarded-Proto": "https"})
	nonce := cookie(page.header, "printfleet_console_login")
	if !nonce.Secure || !nonce.HttpOnly {
		t.Errorf("nonce cookie behind a TLS proxy: %+v", nonce)
	}
	r := e.do("POST", "/console/login", url.Values{"csrf": {field(t, page.body, "csrf")}, "token": {e.tokens["support"]}}, nonce,
		map[string]string{"X-Forwarded-Proto": "https"})
	if c := cookie(r.header, "printfleet_console"); r.status != http.StatusSeeOther || c == nil || !c.Secure {
		t.Errorf("sign-in behind a TLS proxy: %d %+v", r.status, c)
	}

	for _, tc := range []struct {
		name, tok string
		csrf      bool
		want      int
	}{
		{"user token", e.tokens["user"], true, http.StatusForbidden},
		{"expired token", e.tokens["expired"], true, http.StatusForbidden},
		{"garbage", "not-a-jwt", true, http.StatusForbidden},
		{"empty", "", true, http.StatusBadRequest},
		{"no csrf", e.tokens["admin"], false, http.StatusForbidden},
	} {
		page := e.do("GET", "/console/login", nil, nil, nil)
		form := url.Values{"token": {tc.tok}}
		if tc.csrf {
			form.Set("csrf", field(t, page.body, "csrf"))
		}
		r := e.do("POST", "/console/login", form, cookie(page.header, "printfleet_console_login"), nil)
		if r.status != tc.want || cookie(r.header, "printfleet_console") != nil {
			t.Errorf("%s: %d (session cookie %v), want %d and none", tc.name, r.status, cookie(r.header, "printfleet_console") != nil, tc.want)
		}
	}
	// A CSRF token from another browser's nonce does not fit.
	p1 := e.do("GET", "/console/login", nil, nil, nil)
	p2 := e.do("GET", "/console/login", nil, nil, nil)
	r = e.do("POST", "/console/login", url.Values{"csrf": {field(t, p1.body, "csrf")}, "token": {e.tokens["admin"]}},
		cookie(p2.header, "printfleet_console_login"), nil)
	if r.status != http.StatusForbidden {
		t.Errorf("sign-in with another nonce's CSRF token: %d", r.status)
	}

	// Sign-out needs the session's CSRF token and clears the cookie.
	home := e.do("GET", "/console/", nil, s, nil)
	if r := e.do("POST", "/console/logout", url.Values{}, s, nil); r.status != http.StatusForbidden {
		t.Errorf("sign-out without CSRF: %d", r.status)
	}
	r = e.do("POST", "/console/logout", url.Values{"csrf": {field(t, home.body, "csrf")}}, s, nil)
	if c := cookie(r.header, "printfleet_console"); r.status != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out: %d %+v", r.status, c)
	}
}

// TestPagesAndPrincipal: an operator (cookie or Authorization header) opens
// every page, and every upstream call carries the operator's principal.
func TestPagesAndPrincipal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, who := range []string{"admin", "support"} {
		s := e.login(e.tokens[who])
		for _, p := range pages {
			if r := e.do("GET", p, nil, s, nil); r.status != http.StatusOK && r.status != http.StatusSeeOther {
				t.Errorf("%s GET %s: %d %s", who, p, r.status, r.body)
			}
			if r := e.do("GET", p, nil, nil, bearer(e.tokens[who])); r.status != http.StatusOK && r.status != http.StatusSeeOther {
				t.Errorf("%s (header) GET %s: %d", who, p, r.status)
			}
		}
	}
	calls := e.f.seen()
	if len(calls) == 0 {
		t.Fatal("no upstream call")
	}
	for _, c := range calls {
		if c.Caller.Subject != "root" && c.Caller.Subject != "helpdesk" {
			t.Errorf("%s carried %+v, want the operator", c.Method, c.Caller)
		}
	}
	// An order id goes straight to the order; an external id lists it.
	r := e.do("GET", "/console/orders?q="+orderID, nil, nil, bearer(e.tokens["support"]))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/orders/"+orderID {
		t.Errorf("search by id: %d %s", r.status, r.header.Get("Location"))
	}
	r = e.do("GET", "/console/orders?q="+externalID, nil, nil, bearer(e.tokens["support"]))
	if !strings.Contains(r.body, `href="/console/orders/`+orderID+`"`) {
		t.Errorf("search by external id does not link the order")
	}
	if got := e.f.calledWith("ListOrders"); len(got) == 0 || !anyExternal(got, externalID) {
		t.Errorf("ListOrders was not asked for the external id")
	}
	// Stores: the reconnection state, the activity and the budget gauge
	// found by the store's marketplace and shop id.
	r = e.do("GET", "/console/stores", nil, nil, bearer(e.tokens["support"]))
	for _, want := range []string{"needs reconnection", "token revoked", "HTTP 429", `<td class="budget">42%</td>`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the stores page lacks %s", want)
		}
	}
	// Held imports are every owner's ON_HOLD orders, in one call.
	r = e.do("GET", "/console/stuck", nil, nil, bearer(e.tokens["support"]))
	if !strings.Contains(r.body, "unknown listing 991") || !strings.Contains(r.body, "print_files") {
		t.Errorf("the stuck page lacks the held import or the stuck order")
	}
	if !strings.Contains(r.body, `href="/console/orders?status=ON_HOLD"`) {
		t.Errorf("the stuck page does not lead to the held orders past its first page")
	}
	if !slices.ContainsFunc(e.f.calledWith("ListOrders"), func(c call) bool {
		req := c.Req.(*ordersv1.ListOrdersRequest)
		return req.GetAllOwners() && req.GetUserId() == "" && req.GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD
	}) {
		t.Errorf("the held imports were not asked of every owner")
	}
	// Without a user the search lists every owner's orders.
	if r := e.do("GET", "/console/orders?status=PAID", nil, nil, bearer(e.tokens["support"])); r.status != http.StatusOK || !strings.Contains(r.body, orderID) {
		t.Errorf("search by status alone: %d, lists the order: %v", r.status, strings.Contains(r.body, orderID))
	}
	for _, c := range e.f.calledWith("ListOrders") {
		if req := c.Req.(*ordersv1.ListOrdersRequest); req.GetAllOwners() == (req.GetUserId() != "") {
			t.Errorf("ListOrders asked with user %q and all_owners %v", req.GetUserId(), req.GetAllOwners())
		}
	}
	if r := e.do("GET", "/console/orders?status=PAID&user=alice", nil, nil, bearer(e.tokens["support"])); !strings.Contains(r.body, orderID) {
		t.Errorf("search by user and status does not list the order")
	}
	// Missing objects are 404 pages.
	if r := e.do("GET", "/console/orders/"+uuid.NewString(), nil, nil, bearer(e.tokens["admin"])); r.status != http.StatusNotFound {
		t.Errorf("unknown order: %d", r.status)
	}
	if r := e.do("GET", "/console/orders/not-a-uuid", nil, nil, bearer(e.tokens["admin"])); r.status != http.StatusNotFound {
		t.Errorf("malformed order id: %d", r.status)
	}
}

func anyExternal(calls []call, ext string) bool {
	for _, c := range calls {
		if strings.Contains(c.Req.(interface{ String() string }).String(), ext) {
			return true
		}
	}
	return false
}

// TestOrderPageSections: the order page shows its whole way: timeline,
// payment, stock, print files and mockups through signed links, designs,
// packages, marketplace pushes with their receipts, webhook deliveries,
// dead letters and the trace link.
func TestOrderPageSections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("GET", "/console/orders/"+orderID, nil, nil, bearer(e.tokens["support"]))
	if r.status != http.StatusOK {
		t.Fatalf("order page: %d %s", r.status, r.body)
	}
	for _, want := range []string{
		`id="timeline"`, `id="payment"`, `id="stock"`, `id="files"`, `id="packages"`, `id="pushes"`, `id="deliveries"`, `id="dead-letters"`, `id="trace"`,
		"order.placed", "payment.captured", "stock.reserved", "pay_123",
		`src="` + s3Origin + `/renders/print/item-1.png?X-Amz-Signature=sig"`, `src="` + s3Origin + `/renders/mockup/item-1.png?X-Amz-Signature=sig"`,
		`src="` + s3Origin + `/designs/thumb.png?X-Amz-Signature=abc"`,
		"TRK-555", "marketplace.push_succeeded", "receipt_key=receipts/r-77.json", "order.shipped", webhookID,
		"design master designs/master/x.png is missing",
		`href="http://jaeger.example:16686/trace/` + traceID + `"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the order page lacks %s", want)
		}
	}
	links := e.f.calledWith("SignRenderLinks")
	if len(links) != 1 || !strings.Contains(links[0].Req.(interface{ String() string }).String(), "renders/mockup/item-1.png") {
		t.Errorf("SignRenderLinks calls: %+v", links)
	}
}

// TestSupportCannotAct: a support operator sees the dead letter but no
// action form, and every action is refused before it reaches ops.
func TestSupportCannotAct(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.login(e.tokens["support"])
	for _, p := range []string{"/console/dead-letters/" + letterID, "/console/dead-letters"} {
		r := e.do("GET", p, nil, s, nil)
		if r.status != http.StatusOK || !strings.Contains(r.body, queueName) {
			t.Fatalf("support GET %s: %d", p, r.status)
		}
		for _, action := range []string{"/replay", "/discard", "action_id"} {
			if strings.Contains(r.body, action) {
				t.Errorf("support is offered %s on %s", action, p)
			}
		}
	}
	home := e.do("GET", "/console/", nil, s, nil)
	csrf := field(t, home.body, "csrf")
	for _, p := range []string{"/console/dead-letters/" + letterID + "/replay", "/console/dead-letters/" + letterID + "/discard",
		"/console/queues/" + queueName + "/replay"} {
		r := e.do("POST", p, url.Values{"csrf": {csrf}, "action_id": {uuid.NewString()}, "reason": {"support tries"}}, s, nil)
		if r.status != http.StatusForbidden {
			t.Errorf("support POST %s: %d, want 403", p, r.status)
		}
	}
	for _, m := range []string{"ReplayDeadLetter", "DiscardDeadLetter", "ReplayQueue"} {
		if n := len(e.f.calledWith(m)); n != 0 {
			t.Errorf("%s reached ops %d times for support", m, n)
		}
	}
}

// TestActionsNeedCSRF: every action refuses a missing, wrong or another
// session's CSRF token and a cross-origin request; a good one goes through
// with the form's action id and the admin's principal.
func TestActionsNeedCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.login(e.tokens["admin"])
	page := e.do("GET", "/console/dead-letters/"+letterID, nil, admin, nil)
	csrf, aid := formFields(t, page.body, "replay-form")
	if _, err := uuid.Parse(aid); err != nil {
		t.Fatalf("action id %q is not a UUID", aid)
	}
	otherCSRF := field(t, e.do("GET", "/console/", nil, nil, bearer(e.tokens["support"])).body, "csrf")
	if otherCSRF == csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	actions := []string{"/console/dead-letters/" + letterID + "/replay", "/console/dead-letters/" + letterID + "/discard",
		"/console/queues/" + queueName + "/replay"}
	for _, p := range actions {
		for _, tc := range []struct {
			name string
			csrf string
			hdr  map[string]string
		}{
			{"missing", "", nil},
			{"wrong", "AAAA" + csrf[4:], nil},
			{"another session's", otherCSRF, nil},
			{"cross-site fetch", csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}},
			{"foreign origin", csrf, map[string]string{"Origin": "https://evil.example"}},
		} {
			form := url.Values{"action_id": {uuid.NewString()}, "reason": {"a good reason"}}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			if r := e.do("POST", p, form, admin, tc.hdr); r.status != http.StatusForbidden {
				t.Errorf("POST %s with %s CSRF: %d, want 403", p, tc.name, r.status)
			}
		}
	}
	if n := len(e.f.seen()) - len(e.f.calledWith("GetDeadLetter")) - len(e.f.calledWith("ListQueues")) - len(e.f.calledWith("ListStuckOrders")); n != 0 {
		t.Errorf("refused actions reached the services: %+v", e.f.seen())
	}
	r := e.do("POST", actions[0], url.Values{"csrf": {csrf}, "action_id": {aid}}, admin, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/dead-letters/"+letterID+"?done=replayed" {
		t.Fatalf("replay: %d %s", r.status, r.header.Get("Location"))
	}
	// A double submit sends the same action id: ops does it once.
	e.do("POST", actions[0], url.Values{"csrf": {csrf}, "action_id": {aid}}, admin, nil)
	replays := e.f.calledWith("ReplayDeadLetter")
	if len(replays) != 2 {
		t.Fatalf("replays: %d", len(replays))
	}
	for _, c := range replays {
		if got := c.Req.(interface{ GetActionId() string }).GetActionId(); got != aid || c.Caller.Subject != "root" {
			t.Errorf("replay carried action id %q by %q, want %q by root", got, c.Caller.Subject, aid)
		}
	}
	// Through an auth proxy (Authorization header) the CSRF token is bound
	// to the bearer token.
	proxied := e.do("GET", "/console/dead-letters", nil, nil, bearer(e.tokens["admin"]))
	qcsrf, qaid := formFields(t, proxied.body, "replay-all-"+queueName)
	if r := e.do("POST", actions[2], url.Values{"csrf": {qcsrf}, "action_id": {qaid}}, nil, bearer(e.tokens["admin"])); r.status != http.StatusSeeOther {
		t.Errorf("replay all through the proxy: %d %s", r.status, r.body)
	}
}

// TestFreshActionIDs: every rendering of a form carries a new action id.
func TestFreshActionIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seen := map[string]bool{}
	for range 3 {
		page := e.do("GET", "/console/dead-letters/"+letterID, nil, nil, bearer(e.tokens["admin"]))
		for _, form := range []string{"replay-form", "discard-form"} {
			_, aid := formFields(t, page.body, form)
			if seen[aid] {
				t.Errorf("action id %s rendered twice", aid)
			}
			seen[aid] = true
		}
	}
}

// TestDiscardNeedsReason: a discard without a reason is refused by the form
// (and never reaches ops); with one it goes through.
func TestDiscardNeedsReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.login(e.tokens["admin"])
	page := e.do("GET", "/console/dead-letters/"+letterID, nil, s, nil)
	csrf, aid := formFields(t, page.body, "discard-form")
	for _, reason := range []string{"", "  ", "x"} {
		r := e.do("POST", "/console/dead-letters/"+letterID+"/discard", url.Values{"csrf": {csrf}, "action_id": {aid}, "reason": {reason}}, s, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "A reason is required") {
			t.Errorf("discard with reason %q: %d", reason, r.status)
		}
	}
	if n := len(e.f.calledWith("DiscardDeadLetter")); n != 0 {
		t.Fatalf("a discard without reason reached ops %d times", n)
	}
	r := e.do("POST", "/console/dead-letters/"+letterID+"/discard", url.Values{"csrf": {csrf}, "action_id": {aid}, "reason": {"garbage body, nothing to redo"}}, s, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("discard: %d %s", r.status, r.body)
	}
	got := e.f.calledWith("DiscardDeadLetter")
	if len(got) != 1 || got[0].Req.(interface{ GetReason() string }).GetReason() != "garbage body, nothing to redo" {
		t.Errorf("discard calls: %+v", got)
	}
	// The order's page still lists it, as discarded.
	if r := e.do("GET", "/console/orders/"+orderID, nil, s, nil); !strings.Contains(r.body, "(DISCARDED,") {
		t.Errorf("the order page does not list the discarded letter")
	}
	after := e.do("GET", "/console/dead-letters/"+letterID+"?done=discarded", nil, s, nil)
	if !strings.Contains(after.body, "DISCARDED") || strings.Contains(after.body, `id="discard-form"`) {
		t.Errorf("a discarded letter still offers actions or does not say DISCARDED")
	}
}

var (
	inlineScript = regexp.MustCompile(`(?is)<script(?:\s[^>]*)?>\s*[^<\s]`)
	scriptTag    = regexp.MustCompile(`(?is)<script\b[^>]*>`)
	styleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
	eventAttr    = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleTag     = regexp.MustCompile(`(?i)<style\b`)
	jsURL        = regexp.MustCompile(`(?i)javascript:`)
)

// TestCSPAndNoInline: every console response carries the strict policy
// (images from the gateway and the configured S3 origin only), and no page
// has an inline script, style or event handler.
func TestCSPAndNoInline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' " + s3Origin +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	check := func(what string, r resp) {
		t.Helper()
		if got := r.header.Get("Content-Security-Policy"); got != want {
			t.Errorf("%s: CSP %q, want %q", what, got, want)
		}
		if inlineScript.MatchString(r.body) || styleAttr.MatchString(r.body) || eventAttr.MatchString(r.body) ||
			styleTag.MatchString(r.body) || jsURL.MatchString(r.body) {
			t.Errorf("%s: inline script or style", what)
		}
		for _, tag := range scriptTag.FindAllString(r.body, -1) {
			if !strings.Contains(tag, `src="/console/static/`) {
				t.Errorf("%s: script %s is not the console's own", what, tag)
			}
		}
	}
	check("login", e.do("GET", "/console/login", nil, nil, nil))
	check("refusal", e.do("GET", "/console/", nil, nil, nil))
	for _, p := range pages {
		check(p, e.do("GET", p, nil, nil, bearer(e.tokens["admin"])))
	}
	// The templates themselves, whatever a page happens to render.
	files, err := filepath.Glob("ui/templates/*.html")
	if err != nil || len(files) < 5 {
		t.Fatalf("templates: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		if inlineScript.MatchString(src) || styleAttr.MatchString(src) || eventAttr.MatchString(src) || styleTag.MatchString(src) ||
			jsURL.MatchString(src) || strings.Contains(src, "template.JS") || strings.Contains(src, "safe") {
			t.Errorf("%s has inline script or style", f)
		}
		for _, tag := range scriptTag.FindAllString(src, -1) {
			if !strings.Contains(tag, `src="/console/static/`) {
				t.Errorf("%s: script %s is not the console's own", f, tag)
			}
		}
		if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(src) {
			t.Errorf("%s loads something from another origin", f)
		}
	}
	for _, f := range []string{"console.css", "console.js"} {
		r := e.do("GET", "/console/static/"+f, nil, nil, nil)
		if r.status != http.StatusOK || r.body == "" {
			t.Errorf("static %s: %d", f, r.status)
		}
	}
	if r := e.do("GET", "/console/static/..%2fconsole.go", nil, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("static escape: %d", r.status)
	}
}

// TestNoSecretsRendered: no page shows the session token, the console key
// or the JWT secret.
func TestNoSecretsRendered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.login(e.tokens["admin"])
	for _, p := range append(pages, "/console/login") {
		r := e.do("GET", p, nil, s, nil)
		for name, secret := range map[string]string{"session token": e.tokens["admin"], "console key": consoleKey, "jwt secret": jwtSecret} {
			if strings.Contains(r.body, secret) {
				t.Errorf("%s renders the %s", p, name)
			}
		}
		// The token's signature alone is not there either.
		sig := e.tokens["admin"][strings.LastIndex(e.tokens["admin"], ".")+1:]
		if strings.Contains(r.body, sig) {
			t.Errorf("%s renders the token's signature", p)
		}
	}
}

func TestConfigCheckEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env string
		key config.Secret
		ok  bool
	}{
		{"development", "", true},
		{"production", "", false},
		{"staging", "short", false},
		{"production", consoleKey, true},
	} {
		err := console.Config{Key: tc.key}.CheckEnv(tc.env)
		if (err == nil) != tc.ok {
			t.Errorf("%s key %d bytes: %v", tc.env, len(tc.key), err)
		}
	}
	for _, tc := range []struct {
		cfg console.Config
		ok  bool
	}{
		{console.Config{TraceURL: traceURL}, true},
		{console.Config{TraceURL: "javascript:alert(1)//{trace_id}"}, false},
		{console.Config{TraceURL: "http://jaeger/trace/"}, false},
		{console.Config{ImageOrigins: []string{"http://127.0.0.1:7070"}}, true},
		{console.Config{ImageOrigins: []string{"http://127.0.0.1:7070/bucket"}}, false},
		{console.Config{ImageOrigins: []string{"*"}}, false},
		{console.Config{Metrics: []string{"orders=http://127.0.0.1:9201/metrics"}}, true},
		{console.Config{Metrics: []string{"http://127.0.0.1:9201/metrics"}}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
}
