package e2e

// The operator console in a real headless Chromium: sign-in, an order's
// whole way, a dead letter replayed to completion, a discard with its
// reason in the audit log, and the support role reading only.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// browser is a headless Chromium tab. It accepts the confirmation dialogs
// the console shows before a discard or a replay of a whole queue, and
// collects the console's errors and exceptions (a Content-Security-Policy
// violation among them).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no Chromium on PATH (scripts/infra.sh installs it from apt)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser; it lives as long as ctx
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// A refusal or an error page is a non-2xx document, which the
			// browser logs from the network: expected; anything else is not.
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") ||
				(m.Type == chromedp.ConsoleType("error") && m.Source != "network") {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// problems are the errors the pages reported so far.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs actions with a deadline.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, clip(b.html(), 2000))
	}
}

// submit clicks sel and waits for the page the click leads to.
func (b *browser) submit(t *testing.T, what, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, clip(b.html(), 2000))
	}
}

func (b *browser) html() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	return s
}

// open navigates to url.
func (b *browser) open(t *testing.T, url string) {
	t.Helper()
	b.do(t, "open "+url, chromedp.Navigate(url))
}

// text is the text of the first element matching the CSS selector sel.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v\npage: %s", sel, err, clip(b.html(), 2000))
	}
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitText reloads url until the element sel contains want.
func (b *browser) waitText(t *testing.T, url, sel, want string, timeout time.Duration) string {
	t.Helper()
	var got string
	eventually(t, timeout, want+" in "+sel+" of "+url, func() (bool, string) {
		b.open(t, url)
		got = eval[string](t, b, `(document.querySelector(`+jsString(sel)+`) || {}).innerText || ""`)
		return strings.Contains(got, want), clip(got, 300)
	})
	return got
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// login signs in through the console's form.
func (b *browser) login(t *testing.T, e *environment, tok string) {
	t.Helper()
	b.open(t, e.layout.GatewayURL()+"/console/login")
	b.do(t, "fill the token", chromedp.SetValue(chromedp.ID("token"), tok))
	b.submit(t, "sign in", "#sign-in")
	b.do(t, "signed in", chromedp.WaitVisible(chromedp.ID("operator")))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func rendersBucket(t *testing.T, e *environment) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(e.layout.S3Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("printfleet", "printfleet-dev-secret", ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// moveObject renames an object of the renders bucket.
func moveObject(t *testing.T, c *minio.Client, from, to string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: "printfleet-renders", Object: to},
		minio.CopySrcOptions{Bucket: "printfleet-renders", Object: from}); err != nil {
		t.Fatalf("copy %s to %s: %v", from, to, err)
	}
	if err := c.RemoveObject(ctx, "printfleet-renders", from, minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("remove %s: %v", from, err)
	}
}

// TestConsoleBrowserOrderAndDeadLetter: an order whose design master went
// missing is dead-lettered by the images worker; an admin signs in to the
// console, finds the order by its external id, sees the poison message
// decoded with its reason, puts the master back, replays it from the
// console, and the order goes to production; shipped and delivered over
// REST, its page shows every section of its way.
func TestConsoleBrowserOrderAndDeadLetter(t *testing.T) {
	e := need(t)
	seller := "console-seller-" + uuid.NewString()[:8]
	alice := token(t, seller, "user", time.Hour)
	admin := token(t, "console-admin", "admin", time.Hour)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	gw := e.layout.GatewayURL()

	mug, wrap := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")
	design := readyDesign(t, e, alice, designPNG(t, 2550, 1050))
	master := str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/designs/"+design, alice, nil), "master_key")
	if master == "" {
		t.Fatal("the ready design names no master_key")
	}
	s3c := rendersBucket(t, e)
	aside := master + ".aside"
	moveObject(t, s3c, master, aside)
	restored := false
	t.Cleanup(func() {
		if !restored {
			moveObject(t, s3c, aside, master)
		}
	})

	shop := connectShopOff(t, e, alice, "shopify")
	externalOrder, items := placeSandboxOrder(t, e, shop, sandboxLine("shopify", fmt.Sprintf("CONSOLE-%d", time.Now().UnixNano()), "Console mug", 1))
	order := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders", alice, map[string]any{
		"items": []any{map[string]any{"variant_id": mug, "quantity": 1, "design_id": design, "placement_id": wrap,
			"external_item_id": items[0]}},
		"shipping_address": address(), "currency": "GBP", "payment_method": "PAYMENT_METHOD_CARD",
		"store_id": shop.storeID, "external_order_id": externalOrder,
	}, "Idempotency-Key", uuid.NewString())
	id := str(order, "id")
	waitStatus(t, e, alice, id, "ORDER_STATUS_PAID", 60*time.Second)

	b := newBrowser(t)
	b.login(t, e, admin)

	// Find the order by its external id.
	b.open(t, gw+"/console/orders")
	b.do(t, "fill the search", chromedp.SetValue(chromedp.ID("q"), externalOrder))
	b.submit(t, "search", "#search")
	if n := eval[int](t, b, `document.querySelectorAll('#results a[href="/console/orders/`+id+`"]').length`); n != 1 {
		t.Fatalf("the search by external id lists the order %d times\n%s", n, clip(b.html(), 2000))
	}

	// The poison message in images.renders' dead letters, decoded.
	var letterURL string
	eventually(t, 60*time.Second, "the OrderPaid dead letter in the console", func() (bool, string) {
		b.open(t, gw+"/console/dead-letters?queue="+eventsv1.QueueImagesRenders)
		letterURL = eval[string](t, b, `(() => { for (const tr of document.querySelectorAll("#letters tbody tr")) {
			if (tr.querySelector('a[href="/console/orders/`+id+`"]')) { return tr.querySelector('a[href^="/console/dead-letters/"]').getAttribute("href"); } }
			return ""; })()`)
		return letterURL != "", "not parked yet"
	})
	b.open(t, gw+letterURL)
	body, reason, typ := b.text(t, "#body"), b.text(t, "#reason"), b.text(t, "#type")
	if !strings.Contains(body, id) || typ != eventsv1.KeyOrderPaid {
		t.Errorf("decoded body %q of type %q, want the OrderPaid of %s", clip(body, 400), typ, id)
	}
	if !strings.Contains(reason, master) {
		t.Errorf("reason %q does not name the missing master %s", reason, master)
	}

	// Put the master back and replay from the console.
	moveObject(t, s3c, aside, master)
	restored = true
	b.submit(t, "replay", "#replay")
	if got := b.text(t, "#flash"); !strings.Contains(got, "Replayed") {
		t.Errorf("after the replay the page says %q", got)
	}
	if got := b.text(t, "#state"); got != "REPLAYED" {
		t.Errorf("after the replay the letter is %s", got)
	}
	waitStatus(t, e, alice, id, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)

	// Ship and deliver over REST: the order completes.
	tracking := newTracking()
	ship := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders/"+id+"/shipments", partner, map[string]any{
		"carrier": "UPS", "tracking_number": tracking,
	})
	e.api.must(t, http.StatusOK, http.MethodPost, "/v1/orders/"+id+"/shipments/"+str(ship, "id")+":deliver", partner, map[string]any{})
	waitStatus(t, e, alice, id, "ORDER_STATUS_DELIVERED", 30*time.Second)

	// The order page: every section of its way.
	b.waitText(t, gw+"/console/orders/"+id, "#pushes", "marketplace.push_succeeded", 60*time.Second)
	for sel, want := range map[string]string{
		"#order-status": "DELIVERED",
		"#external-id":  externalOrder,
		"#timeline":     "print_files.ready",
		"#payment":      "payment.captured",
		"#stock":        "stock.reserved",
		"#files":        "print file",
		"#packages":     tracking,
		"#pushes":       "receipt_key=",
		"#deliveries":   "Webhook deliveries",
		"#dead-letters": eventsv1.QueueImagesRenders,
		"#trace":        "Trace",
	} {
		if got := b.text(t, sel); !strings.Contains(got, want) {
			t.Errorf("%s shows %q, want %q", sel, clip(got, 300), want)
		}
	}
	if traceID := str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, alice, nil), "trace_id"); traceID != "" &&
		!strings.Contains(b.text(t, "#trace"), traceID) {
		t.Errorf("the trace section lacks the order's trace id %s", traceID)
	}
	// The print file, the mockup and the design's thumbnail load from S3
	// through their short-lived links (allowed by the policy's img-src).
	if ok := eval[bool](t, b, `(() => { const imgs = [...document.querySelectorAll("#files img.thumb")];
		return imgs.length >= 3 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`); !ok {
		t.Errorf("the print file, mockup and design images did not all load\n%s", clip(b.html(), 3000))
	}
	if p := b.problems(); len(p) != 0 {
		t.Errorf("the browser reported errors: %v", p)
	}
}

// TestConsoleBrowserDiscard: a garbage message is dead-lettered; a support
// operator sees it but is offered no action; an admin's discard without a
// reason is refused by the form, with one it is done and listed in the
// audit log.
func TestConsoleBrowserDiscard(t *testing.T) {
	e := need(t)
	gw := e.layout.GatewayURL()
	msgID := publishGarbage(t, e)

	support := newBrowser(t)
	support.login(t, e, token(t, "console-support", "support", time.Hour))
	var letterURL string
	eventually(t, 60*time.Second, "the garbage dead letter in the console", func() (bool, string) {
		support.open(t, gw+"/console/dead-letters?queue="+eventsv1.QueueOrdersWorker)
		hrefs := eval[[]string](t, support, `[...document.querySelectorAll('#letters a[href^="/console/dead-letters/"]')].map(a => a.getAttribute("href"))`)
		for _, h := range hrefs {
			support.open(t, gw+h)
			if strings.Contains(eval[string](t, support, `document.querySelector("dl.facts").innerText`), msgID) {
				letterURL = h
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d letters, none is %s", len(hrefs), msgID)
	})
	support.open(t, gw+letterURL)
	if n := eval[int](t, support, `document.querySelectorAll("#actions, form[action$='/replay'], form[action$='/discard']").length`); n != 0 {
		t.Errorf("support is offered %d action forms", n)
	}
	if got := support.text(t, "#body-error"); got == "" {
		t.Error("the garbage body is not reported as undecodable")
	}

	admin := newBrowser(t)
	admin.login(t, e, token(t, "console-admin", "admin", time.Hour))
	admin.open(t, gw+letterURL)
	if got := eval[string](t, admin, `document.getElementById("discard-reason").value`); got != "" {
		t.Fatalf("the discard form starts with a reason %q", got)
	}
	admin.submit(t, "discard without a reason", "#discard")
	if got := admin.text(t, "#error"); !strings.Contains(got, "reason is required") {
		t.Errorf("discard without a reason says %q", got)
	}
	if got := admin.text(t, "#state"); got != "PARKED" {
		t.Errorf("after a refused discard the letter is %s", got)
	}
	reason := "garbage body published by the console test " + msgID[:8]
	admin.do(t, "give a reason", chromedp.SetValue(chromedp.ID("discard-reason"), reason))
	admin.submit(t, "discard with a reason", "#discard")
	if got := admin.text(t, "#flash"); got != "Discarded." {
		t.Errorf("after the discard the page says %q", got)
	}
	if got := admin.text(t, "#state"); got != "DISCARDED" {
		t.Errorf("after the discard the letter is %s", got)
	}
	audit := admin.waitText(t, gw+"/console/audit", "#audit", reason, 10*time.Second)
	if !strings.Contains(audit, "dead_letter.discard") || !strings.Contains(audit, "console-admin") {
		t.Errorf("audit log: %s", clip(audit, 600))
	}
	if p := append(admin.problems(), support.problems()...); len(p) != 0 {
		t.Errorf("the browser reported errors: %v", p)
	}
}

// TestConsoleRefusals: over plain HTTP against the running gateway, the
// console answers 403 without data to no token, a user's token and an
// expired token; an admin's action without the CSRF token or from another
// origin is refused; every answer carries the strict policy with the S3
// origin as the only other image source.
func TestConsoleRefusals(t *testing.T) {
	e := need(t)
	gw := e.layout.GatewayURL()
	wantCSP := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' " + e.layout.S3Endpoint +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	send := func(method, path, tok string, form string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, gw+path, strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		if form != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, resp.Header, sb.String()
	}
	claims := devClaims("console-admin", "admin")
	claims["iat"], claims["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	expired := mintJWTWith(t, []byte(e.layout.JWTSecret), claims)
	for name, tok := range map[string]string{"no token": "", "user": token(t, "console-user", "user", time.Hour), "expired": expired} {
		for _, p := range []string{"/console/", "/console/dead-letters", "/console/audit", "/console/stores"} {
			code, h, body := send("GET", p, tok, "")
			if code != http.StatusForbidden || strings.Contains(body, "<table") {
				t.Errorf("%s GET %s: %d (a table: %v)", name, p, code, strings.Contains(body, "<table"))
			}
			if got := h.Get("Content-Security-Policy"); got != wantCSP {
				t.Errorf("%s GET %s: CSP %q, want %q", name, p, got, wantCSP)
			}
		}
	}
	admin := token(t, "console-admin", "admin", time.Hour)
	if code, _, _ := send("GET", "/console/audit", admin, ""); code != http.StatusOK {
		t.Fatalf("admin audit page: %d", code)
	}
	action := "/console/queues/" + eventsv1.QueueOrdersWorker + "/replay"
	form := "action_id=" + uuid.NewString()
	if code, _, _ := send("POST", action, admin, form); code != http.StatusForbidden {
		t.Errorf("action without CSRF: %d", code)
	}
	if code, _, _ := send("POST", action, admin, form+"&csrf=forged", "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-origin action: %d", code)
	}
}

// TestConsolePagesHoldNoSecrets: with a store connected (its credentials),
// a webhook subscription (its signing secret) and an order of the seller's,
// no console page an admin opens carries a secret: not the operator's
// token, the store's credentials, the webhook secret, the internal or the
// JWT secret.
func TestConsolePagesHoldNoSecrets(t *testing.T) {
	e := need(t)
	seller := "console-secrets-" + uuid.NewString()[:8]
	tok := secToken(t, seller, "user", time.Hour)
	shop := connectShopOff(t, e, tok, "etsy")
	rcv := newWhReceiver(t, e, whOK)
	createWh(t, e, tok, rcv.URL, "*")
	mug, _ := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")
	order := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders", tok, map[string]any{
		"items": []any{map[string]any{"variant_id": mug, "quantity": 1}}, "shipping_address": address(),
		"currency": "GBP", "payment_method": "PAYMENT_METHOD_CARD",
	}, "Idempotency-Key", uuid.NewString())
	rememberSecretAs("internal secret", e.layout.InternalSecret)
	rememberSecretAs("jwt secret", e.layout.JWTSecret)
	admin := secToken(t, "console-admin", "admin", time.Hour)

	for _, p := range []string{"/console/", "/console/stores", "/console/orders/" + str(order, "id"),
		"/console/orders?store=" + shop.storeID, "/console/stuck", "/console/dead-letters", "/console/audit", "/console/login"} {
		r := e.api.do(t, http.MethodGet, p, admin, nil)
		if r.Status != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.Status)
		}
		assertNoSecretIn(t, "console page "+p, r.Body)
	}
}
