package marketplace

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Options configure an adapter. The zero value is usable.
type Options struct {
	// HTTPClient sends the requests; default: a client whose Timeout backs up
	// CallTimeout.
	HTTPClient *http.Client
	// CallTimeout bounds every outbound call; default 10s.
	CallTimeout time.Duration
	// Retry bounds the attempts of one push.
	Retry Retry
	// Tokens keeps refreshed OAuth tokens; share one between adapters so a process
	// refreshes each store once. Default: a new one calling OnTokenRefresh.
	Tokens *Tokens
	// OnTokenRefresh is told a store's new credentials so they can be saved; used
	// only when Tokens is nil.
	OnTokenRefresh func(domain.Store, domain.Credentials)
	// Budgets keeps the rate budgets; default: a new one.
	Budgets *Budgets
	// UserAgent is sent on every request; default "printfleet-marketplace-worker".
	UserAgent string
	// ShopifyAPIVersion is the Shopify Admin API version spoken; default the
	// shopify package's APIVersion.
	ShopifyAPIVersion string
}

// WithDefaults fills what is unset.
func (o Options) WithDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.CallTimeout + time.Second}
	}
	if o.Tokens == nil {
		o.Tokens = NewTokens(o.OnTokenRefresh)
	}
	if o.Budgets == nil {
		o.Budgets = NewBudgets()
	}
	if o.UserAgent == "" {
		o.UserAgent = "printfleet-marketplace-worker"
	}
	o.Retry = o.Retry.withDefaults()
	return o
}

// Client returns the HTTP sender described by o.
func (o Options) Client(m domain.Marketplace) *Client {
	o = o.WithDefaults()
	return &Client{HTTP: o.HTTPClient, Timeout: o.CallTimeout, UserAgent: o.UserAgent, Marketplace: m}
}

// Request is one outbound HTTP request.
type Request struct {
	Op          string // what the call does, for errors: "fulfillmentCreate"
	Method      string
	URL         string
	Header      http.Header
	ContentType string
	Body        []byte
	// Secret keeps the request and response bodies out of receipts (token exchanges).
	Secret bool
	// Budget, when set, is the rate budget that granted the request. A
	// refusal (429) of another of its requests that arrives before this
	// one is written holds this one back: Send fails with ErrHeld and
	// nothing reaches the marketplace.
	Budget *Budget
}

// ErrHeld is the cause of Send's error when a request was held back: its
// budget learned a refusal after granting it and before it was written
// (it waited for a connection, most often the refused request's own). The
// caller waits on the budget again, which now says when to come back.
var ErrHeld = errors.New("held back: the marketplace refused another request before this one was written")

// Response is a marketplace's answer, read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Snippet is the start of the body, for error messages.
func (r *Response) Snippet() string { return clip(r.Body, 300) }

// Client sends requests with a deadline each and records them in a Trace.
type Client struct {
	HTTP        *http.Client
	Timeout     time.Duration
	UserAgent   string
	Marketplace domain.Marketplace
}

const maxResponse = 1 << 20

// Send makes one call. It fails only when no complete answer came back; any HTTP
// status is a Response for the caller to judge.
func (c *Client) Send(ctx context.Context, tr *Trace, req Request) (*Response, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var held atomic.Bool
	if b := req.Budget; b != nil {
		callCtx = holdAfterRefusal(callCtx, b, &held)
	}
	hr, err := http.NewRequestWithContext(callCtx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: c.Marketplace, Op: req.Op, Err: err}
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", c.UserAgent)

	call := domain.Call{Request: domain.RequestSummary{Method: req.Method, URL: redactURL(req.URL), Body: clip(req.Body, 2048)}, Token: req.Secret}
	if req.Secret {
		call.Request.Body = "[redacted]"
	}
	start := time.Now()
	resp, err := c.HTTP.Do(hr)
	if err != nil && held.Load() {
		return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonBudget, Marketplace: c.Marketplace, Op: req.Op, Err: ErrHeld}
	}
	if err == nil && req.Budget != nil && resp.StatusCode == http.StatusTooManyRequests {
		req.Budget.refusals.Add(1) // before the body is read: see holdAfterRefusal
	}
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
	}
	call.Duration = time.Since(start)
	if err != nil {
		call.Err = err.Error()
		record(ctx, tr, call)
		e := &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonTransport, Marketplace: c.Marketplace, Op: req.Op, Err: err}
		switch {
		case ctx.Err() != nil:
			e.Reason = domain.ReasonCanceled
		case errors.Is(callCtx.Err(), context.DeadlineExceeded):
			e.Message = fmt.Sprintf("no answer within %s", c.Timeout)
		}
		return nil, e
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	call.Response = domain.ResponseSummary{Status: out.Status, RequestID: requestID(resp.Header), Body: clip(body, 2048)}
	if req.Secret {
		call.Response.Body = "[redacted]"
	}
	record(ctx, tr, call)
	return out, nil
}

// holdAfterRefusal returns ctx with a trace hook that holds the request
// back if b learns a refusal between now (just after b granted it) and the
// moment the transport hands it a connection to be written on. HTTP/1.1
// sends one request at a time per connection: a request granted together
// with one the marketplace then refuses may wait in the transport for that
// very connection, and would be written the instant the refusal's body is
// read, before the refusal had paused the budget. Send counts a refusal when
// its status line arrives, which is before its connection is released, so
// the hook always sees it. The hook closes the connection it was given,
// which fails the write before a byte is sent (the transport may retry once
// on a new connection, which the hook closes too). An HTTP/2 connection is
// shared by requests in flight and is left alone: a request on it is not
// queued behind another's answer.
func holdAfterRefusal(ctx context.Context, b *Budget, held *atomic.Bool) context.Context {
	seen := b.refusals.Load()
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if b.refusals.Load() == seen || multiplexed(info.Conn) {
				return
			}
			held.Store(true)
			_ = info.Conn.Close()
		},
	})
}

func multiplexed(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

func requestID(h http.Header) string {
	for _, k := range []string{"x-amzn-RequestId", "X-Request-Id", "Request-Id", "x-etsy-request-uuid"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// redactURL drops the query and any user info: receipts never carry secrets.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable url]"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "?")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(b[:cut]), "?") + "…"
}

// Trace collects the calls of one push and turns them into its Result.
type Trace struct {
	start time.Time
	mu    sync.Mutex
	calls []domain.Call
}

// NewTrace starts a push's trace.
func NewTrace() *Trace { return &Trace{start: time.Now()} }

// observerKey carries a Trace that sees every call made under a context
// besides the caller's own (a poll's calls, counted by the Router).
type observerKey struct{}

// withObserver returns ctx whose calls are recorded in tr too.
func withObserver(ctx context.Context, tr *Trace) context.Context {
	return context.WithValue(ctx, observerKey{}, tr)
}

// record adds call to tr and to ctx's observer.
func record(ctx context.Context, tr *Trace, call domain.Call) {
	if tr != nil {
		tr.add(call)
	}
	if o, _ := ctx.Value(observerKey{}).(*Trace); o != nil && o != tr {
		o.add(call)
	}
}

func (t *Trace) add(c domain.Call) {
	t.mu.Lock()
	t.calls = append(t.calls, c)
	t.mu.Unlock()
}

// Result summarises the trace; the request and response are those of the last
// marketplace API call.
func (t *Trace) Result(duplicate bool, reference string) domain.Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := domain.Result{Duplicate: duplicate, Reference: reference, Calls: append([]domain.Call(nil), t.calls...), Duration: time.Since(t.start)}
	for _, c := range t.calls {
		if c.Token {
			continue
		}
		r.Attempts++
		r.Status, r.Request, r.Response = c.Response.Status, c.Request, c.Response
	}
	return r
}
