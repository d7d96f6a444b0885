package marketplace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
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
}

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
