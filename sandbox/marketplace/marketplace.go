// Package marketplace is a local stand-in for the marketplaces the fleet pushes
// tracking to — Shopify Admin GraphQL, Etsy Open API v3 and Amazon SP-API Orders v0 —
// served from one handler under /shopify, /etsy and /amazon with each marketplace's
// request and response shapes, rate budget, OAuth refresh and switchable faults. It
// records every accepted push and every request that arrived without budget, so tests
// can assert "never beyond budget" and "one effective push per shipment".
package marketplace

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// Name names a marketplace.
type Name string

// The marketplaces served.
const (
	Shopify Name = "shopify"
	Etsy    Name = "etsy"
	Amazon  Name = "amazon"
)

// Names lists every marketplace served, in a fixed order.
var Names = []Name{Shopify, Etsy, Amazon}

// Faults are one marketplace's switches. The zero value is a healthy marketplace.
type Faults struct {
	// Throttle answers every API request as throttled (429, or THROTTLED for
	// Shopify) until switched off, as if another client had spent the budget.
	Throttle bool `json:"throttle"`
	// ThrottleNext throttles only the next N API requests.
	ThrottleNext int `json:"throttle_next"`
	// ErrorRate is the probability (0..1) that an API request fails with a 5xx before
	// it executes.
	ErrorRate float64 `json:"error_rate"`
	// ErrorNext fails the next N API requests with a 5xx.
	ErrorNext int `json:"error_next"`
	// InternalErrorNext answers the next N Shopify GraphQL requests with HTTP
	// 200 and an INTERNAL_SERVER_ERROR in errors, before they execute, as the
	// Admin GraphQL API does when the shop's backend fails.
	InternalErrorNext int `json:"internal_error_next"`
	// LatencyMS delays every request by this many milliseconds.
	LatencyMS int `json:"latency_ms"`
	// ExpireTokens expires every access token issued or seen so far (setting it again
	// expires again); tokens refreshed afterwards work. False makes all tokens valid.
	ExpireTokens bool `json:"expire_tokens"`
	// WebhookCopies sends each Shopify webhook delivery this many times in
	// parallel (0 or 1: once), with the same X-Shopify-Webhook-Id.
	WebhookCopies int `json:"webhook_copies"`
	// WebhookDrop records Shopify webhook deliveries without sending them.
	WebhookDrop bool `json:"webhook_drop"`
	// WebhookBadSignature signs Shopify webhooks with a wrong secret.
	WebhookBadSignature bool `json:"webhook_bad_signature"`
	// WebhookShuffle holds Shopify webhook deliveries for a short window and
	// sends each batch in reverse order.
	WebhookShuffle bool `json:"webhook_shuffle"`
}

func (f Faults) validate() error {
	var errs []error
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate %v out of range 0..1", f.ErrorRate))
	}
	if f.LatencyMS < 0 || f.LatencyMS > 60_000 {
		errs = append(errs, fmt.Errorf("latency_ms %d out of range 0..60000", f.LatencyMS))
	}
	if f.WebhookCopies < 0 || f.WebhookCopies > 10 {
		errs = append(errs, fmt.Errorf("webhook_copies %d out of range 0..10", f.WebhookCopies))
	}
	if f.ThrottleNext < 0 || f.ErrorNext < 0 || f.InternalErrorNext < 0 {
		errs = append(errs, errors.New("throttle_next, error_next and internal_error_next must not be negative"))
	}
	return errors.Join(errs...)
}

// faultsPatch is the body of POST /_sandbox/faults: fields left out keep their value.
type faultsPatch struct {
	Throttle     *bool    `json:"throttle"`
	ThrottleNext *int     `json:"throttle_next"`
	ErrorRate    *float64 `json:"error_rate"`
	ErrorNext    *int     `json:"error_next"`
	InternalNext *int     `json:"internal_error_next"`
	LatencyMS    *int     `json:"latency_ms"`
	ExpireTokens *bool    `json:"expire_tokens"`
	HookCopies   *int     `json:"webhook_copies"`
	HookDrop     *bool    `json:"webhook_drop"`
	HookBadSig   *bool    `json:"webhook_bad_signature"`
	HookShuffle  *bool    `json:"webhook_shuffle"`
}

func (p faultsPatch) apply(f Faults) Faults {
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	if p.Throttle != nil {
		f.Throttle = *p.Throttle
	}
	if p.ErrorRate != nil {
		f.ErrorRate = *p.ErrorRate
	}
	if p.ExpireTokens != nil {
		f.ExpireTokens = *p.ExpireTokens
	}
	for dst, src := range map[*bool]*bool{&f.WebhookDrop: p.HookDrop, &f.WebhookBadSignature: p.HookBadSig, &f.WebhookShuffle: p.HookShuffle} {
		if src != nil {
			*dst = *src
		}
	}
	set(&f.WebhookCopies, p.HookCopies)
	set(&f.ThrottleNext, p.ThrottleNext)
	set(&f.ErrorNext, p.ErrorNext)
	set(&f.InternalErrorNext, p.InternalNext)
	set(&f.LatencyMS, p.LatencyMS)
	return f
}

// Limits are the marketplaces' rate budgets. Zero fields take the documented
// production values.
type Limits struct {
	ShopifyBucketSize  float64 // cost points per shop; 1000
	ShopifyRestoreRate float64 // points restored per second; 50
	EtsyPerSecond      int     // requests per second per API key; 10
	EtsyPerDay         int     // requests per day per API key; 10000
	AmazonRate         float64 // confirmShipment requests per second per seller; 2
	AmazonBurst        int     // confirmShipment burst per seller; 10
	AmazonOrdersRate   float64 // getOrders requests per second per seller; 0.0167
	AmazonOrdersBurst  int     // getOrders burst per seller; 20
	AmazonItemsRate    float64 // getOrderItems requests per second per seller; 0.5
	AmazonItemsBurst   int     // getOrderItems burst per seller; 30
	TokenTTL           time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ShopifyBucketSize, 1000)
	def(&l.ShopifyRestoreRate, 50)
	defInt(&l.EtsyPerSecond, 10)
	defInt(&l.EtsyPerDay, 10_000)
	def(&l.AmazonRate, 2)
	defInt(&l.AmazonBurst, 10)
	if l.TokenTTL <= 0 {
		l.TokenTTL = time.Hour
	}
	return l
}

// Options configure a Server.
type Options struct {
	Limits Limits
	// Faults are the switches at start, per marketplace.
	Faults map[Name]Faults
	// Seed makes injected errors and issued ids repeatable; 0 picks a random seed.
	Seed uint64
}

// Push is one accepted push as the marketplace recorded it.
type Push struct {
	Seq            int       `json:"seq"`
	At             time.Time `json:"at"`
	Store          string    `json:"store"` // shop domain, Etsy shop id, or Amazon seller
	Order          string    `json:"order"` // order gid, receipt id, or Amazon order id
	Ref            string    `json:"ref"`   // fulfillment gid, receipt shipping id, or packageReferenceId
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	TrackingURL    string    `json:"tracking_url,omitempty"`
	// Updates counts later requests that edited this push in place (Amazon resends
	// with the same packageReferenceId).
	Updates int `json:"updates"`
	// Lines are the order lines the push shipped: Shopify line item gids and
	// Amazon orderItemIds with their quantities (Etsy ships a whole receipt:
	// none).
	Lines []PushLine `json:"lines,omitempty"`
}

// PushLine is one order line of a push and the quantity it shipped.
type PushLine struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// Counters count one marketplace's requests by outcome.
type Counters struct {
	Requests         int `json:"requests"`
	Reads            int `json:"reads"`
	Accepted         int `json:"accepted"`
	Updates          int `json:"updates"`
	Duplicates       int `json:"duplicates"`
	ValidationErrors int `json:"validation_errors"`
	AuthFailures     int `json:"auth_failures"`
	TokenRefreshes   int `json:"token_refreshes"`
	InjectedErrors   int `json:"injected_errors"`
	ThrottledForced  int `json:"throttled_forced"`
	// RejectedBudget counts requests refused because the caller's budget was spent.
	RejectedBudget int `json:"rejected_budget"`
	// OverBudget counts requests that arrived while the caller had no budget left:
	// refused for budget, or sent before the Retry-After the marketplace had given.
	// A well-behaved client keeps it at zero.
	OverBudget int `json:"over_budget"`
}

// Report is what GET /_sandbox/received returns for one marketplace.
type Report struct {
	Marketplace Name     `json:"marketplace"`
	Pushes      []Push   `json:"pushes"`
	Counters    Counters `json:"counters"`
	// PushesByOrder counts recorded pushes per order; one shipment pushed once,
	// however often it was retried or resent, leaves 1.
	PushesByOrder map[string]int `json:"pushes_by_order"`
	// OverBudgetEvents are the last requests counted in over_budget, oldest
	// first, so that a client's misstep can be told from the others.
	OverBudgetEvents []OverBudget `json:"over_budget_events"`
}

// OverBudget is one request that arrived while its caller had no budget.
type OverBudget struct {
	At time.Time `json:"at"`
	// Op is the request's method and path.
	Op string `json:"op"`
	// Kind is "budget" (refused: the second's bucket or the day was spent)
	// or "early" (sent before the end of a Retry-After its caller was given).
	Kind string `json:"kind"`
	// Early is how long before that Retry-After ended it arrived.
	Early string `json:"early,omitempty"`
	// SinceRefusal is how long after the last 429 it arrived, and SameConn
	// whether it came on a connection that received a 429 since.
	SinceRefusal string `json:"since_refusal,omitempty"`
	SameConn     bool   `json:"same_conn,omitempty"`
}

// maxOverBudget bounds the over-budget requests a marketplace remembers.
const maxOverBudget = 50

// market is one marketplace's mutable state; Server.mu guards it.
type market struct {
	faults     Faults
	counters   Counters
	pushes     []Push
	tokens     tokenBook
	overBudget []OverBudget
}

// Server serves the three marketplaces; it is an http.Handler.
type Server struct {
	mux    *http.ServeMux
	dice   *sim.Dice
	limits Limits

	mu      sync.Mutex
	markets map[Name]*market
	shops   map[string]*shopifyShop
	etsy    etsyState
	amazon  amazonState
	seq     int
}

// New returns a server with the given budgets and start-up switches.
func New(o Options) *Server {
	s := &Server{mux: http.NewServeMux(), dice: sim.NewDice(o.Seed), limits: o.Limits.withDefaults()}
	s.resetLocked()
	for name, f := range o.Faults {
		if m, ok := s.markets[name]; ok {
			m.faults = f
		}
	}
	s.mux.HandleFunc("POST /shopify/{shop}/admin/api/{version}/graphql.json", s.shopifyGraphQL)
	s.mux.HandleFunc("POST /shopify/{shop}/admin/oauth/access_token", s.shopifyAccessToken)
	s.mux.HandleFunc("POST /_sandbox/shopify/shops", s.shopifyIssueShop)
	s.mux.HandleFunc("POST /_sandbox/shopify/shops/{shop}/orders", s.shopifyPlaceOrder)
	s.mux.HandleFunc("POST /_sandbox/shopify/shops/{shop}/orders/{order_id}/cancel", s.shopifyCancelOrder)
	s.mux.HandleFunc("POST /_sandbox/shopify/shops/{shop}/webhooks", s.shopifyRegisterWebhook)
	s.mux.HandleFunc("POST /_sandbox/shopify/shops/{shop}/uninstall", s.shopifyUninstall)
	s.mux.HandleFunc("GET /_sandbox/shopify/webhooks", s.shopifyListWebhooks)
	s.mux.HandleFunc("GET /etsy/v3/application/shops/{shop_id}/receipts", s.etsyListReceipts)
	s.mux.HandleFunc("GET /etsy/v3/application/shops/{shop_id}/receipts/{receipt_id}", s.etsyGetReceipt)
	s.mux.HandleFunc("POST /etsy/v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking", s.etsyTracking)
	s.mux.HandleFunc("POST /etsy/v3/public/oauth/token", s.etsyToken)
	s.mux.HandleFunc("POST /_sandbox/etsy/shops", s.postEtsyShop)
	s.mux.HandleFunc("POST /_sandbox/etsy/shops/{shop_id}/orders", s.postEtsyOrder)
	s.mux.HandleFunc("POST /_sandbox/etsy/shops/{shop_id}/orders/{order_id}/cancel", s.postEtsyCancel)
	s.mountAmazon() // /amazon, /amazon-eu, /amazon-fe and /_sandbox/amazon/...
	s.mux.HandleFunc("GET /_sandbox/received", s.getReceived)
	s.mux.HandleFunc("GET /_sandbox/faults", s.getFaults)
	s.mux.HandleFunc("POST /_sandbox/faults", s.postFaults)
	s.mux.HandleFunc("POST /_sandbox/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Limits returns the budgets in force.
func (s *Server) Limits() Limits { return s.limits }

// Faults returns a marketplace's switches.
func (s *Server) Faults(m Name) Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mk, ok := s.markets[m]; ok {
		return mk.faults
	}
	return Faults{}
}

// SetFaults replaces a marketplace's switches.
func (s *Server) SetFaults(m Name, f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mk, ok := s.markets[m]
	if !ok {
		return fmt.Errorf("unknown marketplace %q", m)
	}
	mk.setFaults(f, time.Now())
	return nil
}

func (mk *market) setFaults(f Faults, now time.Time) {
	mk.faults = f
	if f.ExpireTokens {
		mk.tokens.expiredAt = now
	} else {
		mk.tokens.expiredAt = time.Time{}
	}
}

// Received returns what a marketplace recorded.
func (s *Server) Received(m Name) Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := Report{Marketplace: m, Pushes: []Push{}, PushesByOrder: map[string]int{}}
	mk, ok := s.markets[m]
	if !ok {
		return rep
	}
	rep.Pushes = append(rep.Pushes, mk.pushes...)
	rep.OverBudgetEvents = append([]OverBudget{}, mk.overBudget...)
	rep.Counters = mk.counters
	for _, p := range mk.pushes {
		rep.PushesByOrder[p.Order]++
	}
	return rep
}

// Reset forgets every order, push, token and counter, refills every budget and
// heals every fault.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.markets = map[Name]*market{}
	for _, n := range Names {
		s.markets[n] = &market{tokens: tokenBook{issued: map[string]issuedToken{}}}
	}
	s.shops = map[string]*shopifyShop{}
	s.etsy = etsyState{receipts: map[string]*etsyReceipt{}, budgets: map[string]*etsyBudget{}}
	s.amazon = amazonState{orders: map[string]map[string]int{}, buckets: map[string]*bucket{}}
	s.seq = 0
}

func marketsParam(r *http.Request) ([]Name, error) {
	v := r.URL.Query().Get("marketplace")
	if v == "" || v == "all" {
		return Names, nil
	}
	n := Name(strings.ToLower(v))
	if !slices.Contains(Names, n) {
		return nil, fmt.Errorf("unknown marketplace %q (want shopify, etsy or amazon)", v)
	}
	return []Name{n}, nil
}

func (s *Server) getReceived(w http.ResponseWriter, r *http.Request) {
	names, err := marketsParam(r)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if len(names) == 1 {
		sim.WriteJSON(w, http.StatusOK, s.Received(names[0]))
		return
	}
	all := map[Name]Report{}
	for _, n := range names {
		all[n] = s.Received(n)
	}
	sim.WriteJSON(w, http.StatusOK, all)
}

func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) {
	names, err := marketsParam(r)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	out := map[Name]Faults{}
	for _, n := range names {
		out[n] = s.Faults(n)
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	names, err := marketsParam(r)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	var p faultsPatch
	if err := sim.DecodeJSON(w, r, &p); err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[Name]Faults{}
	for _, n := range names {
		f := p.apply(s.markets[n].faults)
		if err := f.validate(); err != nil {
			sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		next[n] = f
	}
	for n, f := range next {
		if p.ExpireTokens == nil {
			s.markets[n].faults = f // leave the token clock alone
			continue
		}
		s.markets[n].setFaults(f, now)
	}
	sim.WriteJSON(w, http.StatusOK, next)
}

// --- request preamble shared by the marketplaces ---

// arrive counts a request and applies the latency switch; false means the caller
// went away while waiting.
func (s *Server) arrive(r *http.Request, m Name) bool {
	s.mu.Lock()
	mk := s.markets[m]
	mk.counters.Requests++
	latency := time.Duration(mk.faults.LatencyMS) * time.Millisecond
	s.mu.Unlock()
	return sim.Sleep(r.Context(), latency) == nil
}

// injectError draws the error switches.
func (s *Server) injectError(m Name) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mk := s.markets[m]
	hit := mk.faults.ErrorNext > 0
	if hit {
		mk.faults.ErrorNext--
	} else {
		hit = s.dice.Hit(mk.faults.ErrorRate)
	}
	if hit {
		mk.counters.InjectedErrors++
	}
	return hit
}

// injectInternal draws the InternalErrorNext switch.
func (s *Server) injectInternal(m Name) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mk := s.markets[m]
	if mk.faults.InternalErrorNext <= 0 {
		return false
	}
	mk.faults.InternalErrorNext--
	mk.counters.InjectedErrors++
	return true
}

// forcedThrottleLocked draws the throttle switches; the caller holds s.mu.
func (s *Server) forcedThrottleLocked(m Name) bool {
	mk := s.markets[m]
	if mk.faults.Throttle {
		mk.counters.ThrottledForced++
		return true
	}
	if mk.faults.ThrottleNext > 0 {
		mk.faults.ThrottleNext--
		mk.counters.ThrottledForced++
		return true
	}
	return false
}

func (s *Server) recordLocked(m Name, p Push) {
	s.seq++
	p.Seq, p.At = s.seq, time.Now()
	mk := s.markets[m]
	mk.pushes = append(mk.pushes, p)
	mk.counters.Accepted++
}

func (s *Server) countLocked(m Name, f func(*Counters)) { f(&s.markets[m].counters) }

// overBudgetLocked counts a request that arrived over its caller's budget
// (refused: also in rejected_budget) and remembers it.
func (s *Server) overBudgetLocked(m Name, ob OverBudget, refused bool) {
	mk := s.markets[m]
	mk.counters.OverBudget++
	if refused {
		mk.counters.RejectedBudget++
	}
	if len(mk.overBudget) == maxOverBudget {
		mk.overBudget = mk.overBudget[1:]
	}
	mk.overBudget = append(mk.overBudget, ob)
}

func (s *Server) count(m Name, f func(*Counters)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countLocked(m, f)
}

// --- tokens ---

// tokenBook remembers the access tokens a marketplace issued. Tokens it never issued
// (the ones a test configures) are accepted until the expire switch is set.
type tokenBook struct {
	issued    map[string]issuedToken
	expiredAt time.Time
}

type issuedToken struct {
	at, expires time.Time
	subject     string
}

type tokenState int

const (
	tokenOK tokenState = iota
	tokenMissing
	tokenExpired
)

func (b *tokenBook) check(tok string, now time.Time) tokenState {
	if tok == "" {
		return tokenMissing
	}
	it, known := b.issued[tok]
	switch {
	case known && now.After(it.expires):
		return tokenExpired
	case known && !b.expiredAt.IsZero() && !it.at.After(b.expiredAt):
		return tokenExpired
	case !known && !b.expiredAt.IsZero():
		return tokenExpired
	}
	return tokenOK
}

// issue mints an access token for subject.
func (s *Server) issueLocked(m Name, prefix, subject string) (string, time.Duration) {
	tok := prefix + s.dice.Hex(32)
	now := time.Now()
	// Issued strictly after any expire switch, even on a coarse clock.
	if exp := s.markets[m].tokens.expiredAt; !now.After(exp) {
		now = exp.Add(time.Nanosecond)
	}
	s.markets[m].tokens.issued[tok] = issuedToken{at: now, expires: now.Add(s.limits.TokenTTL), subject: subject}
	return tok, s.limits.TokenTTL
}

// subjectOf names who a token belongs to without repeating the token: the account
// part of "<account>.<secret>" or "Atza|<account>.<secret>" tokens, else a digest.
func subjectOf(tok string) string {
	rest := tok
	if _, after, ok := strings.Cut(tok, "|"); ok {
		rest = after
	}
	if acct, _, ok := strings.Cut(rest, "."); ok && acct != "" && len(acct) <= 64 {
		return acct
	}
	sum := sha256.Sum256([]byte(tok))
	return "acct-" + hex.EncodeToString(sum[:4])
}

// --- budgets ---

// bucket is a token bucket: it holds up to size tokens and gains rate per second.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) refill(now time.Time, rate, size float64) {
	if b.at.IsZero() {
		b.tokens, b.at = size, now
		return
	}
	if now.After(b.at) {
		b.tokens = math.Min(size, b.tokens+rate*now.Sub(b.at).Seconds())
		b.at = now
	}
}

// Environment variables read by FaultsFromEnv; they apply to every marketplace.
const (
	EnvLatencyMS = "PRINTFLEET_SANDBOX_MARKETPLACE_LATENCY_MS"
	EnvErrorRate = "PRINTFLEET_SANDBOX_MARKETPLACE_ERROR_RATE"
	EnvThrottle  = "PRINTFLEET_SANDBOX_MARKETPLACE_THROTTLE"
)

// FaultsFromEnv reads the start-up switches; getenv is usually os.Getenv.
func FaultsFromEnv(getenv func(string) string) (Faults, error) {
	var f Faults
	var errs []error
	if v := strings.TrimSpace(getenv(EnvLatencyMS)); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, envErr(EnvLatencyMS, err))
		f.LatencyMS = n
	}
	if v := strings.TrimSpace(getenv(EnvErrorRate)); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		errs = append(errs, envErr(EnvErrorRate, err))
		f.ErrorRate = x
	}
	if v := strings.TrimSpace(getenv(EnvThrottle)); v != "" {
		b, err := strconv.ParseBool(v)
		errs = append(errs, envErr(EnvThrottle, err))
		f.Throttle = b
	}
	if err := errors.Join(errs...); err != nil {
		return Faults{}, err
	}
	return f, f.validate()
}

func envErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}
