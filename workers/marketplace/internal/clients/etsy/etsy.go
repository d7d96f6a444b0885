// Package etsy pushes tracking to Etsy through Open API v3: it reads the shop
// receipt (so a resend finds the tracking already there), then adds the tracking
// code, keeping within the per-second and per-day budgets Etsy announces in its
// response headers.
package etsy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Etsy's documented default: 10 requests per second per application.
const defaultPerSecond = 10

// Adapter pushes shipments to Etsy shops.
type Adapter struct {
	client  *marketplace.Client
	retry   marketplace.Retry
	tokens  *marketplace.Tokens
	budgets *marketplace.Budgets

	mu   sync.Mutex
	days map[string]*dayLog // by keystring
	// now is the clock of the per-day log.
	now func() time.Time
}

var _ marketplace.Pusher = (*Adapter)(nil)

// New returns an Etsy adapter.
func New(o marketplace.Options) *Adapter {
	o = o.WithDefaults()
	return &Adapter{client: o.Client(domain.Etsy), retry: o.Retry, tokens: o.Tokens, budgets: o.Budgets,
		days: map[string]*dayLog{}, now: time.Now}
}

type receipt struct {
	ReceiptID int64 `json:"receipt_id"`
	Shipments []struct {
		ReceiptShippingID int64  `json:"receipt_shipping_id"`
		CarrierName       string `json:"carrier_name"`
		TrackingCode      string `json:"tracking_code"`
	} `json:"shipments"`
}

// shippingID returns the id of the receipt's shipment with tracking code code.
func (r receipt) shippingID(code string) (string, bool) {
	for i := len(r.Shipments) - 1; i >= 0; i-- {
		if strings.EqualFold(strings.TrimSpace(r.Shipments[i].TrackingCode), code) {
			return strconv.FormatInt(r.Shipments[i].ReceiptShippingID, 10), true
		}
	}
	return "", false
}

var numeric = regexp.MustCompile(`^[1-9][0-9]{0,15}$`)

// keyShape is the shape Etsy requires of the x-api-key header since February
// 2026: the app's keystring and its shared secret joined by a colon.
var keyShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}:[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// carrierNames maps carrier codes to Etsy's carrier_name values. A carrier
// outside this list goes as "other": Etsy takes only names from its own list,
// and a raw name can mark the receipt shipped without its tracking.
var carrierNames = map[string]string{"usps": "usps", "ups": "ups", "fedex": "fedex", "dhl": "dhl"}

// etsyCarrier returns the carrier_name to send for carrier.
func etsyCarrier(carrier string) string {
	if name, ok := carrierNames[marketplace.Carrier(carrier)]; ok {
		return name
	}
	return "other"
}

// PushShipment implements marketplace.Pusher.
func (a *Adapter) PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error) {
	tr := marketplace.NewTrace()
	if err := s.Validate(); err != nil {
		return tr.Result(false, ""), err
	}
	invalid := func(msg string) (domain.Result, error) {
		return tr.Result(false, ""), &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid,
			Marketplace: domain.Etsy, Op: "push shipment", Message: msg}
	}
	receiptID := strings.TrimSpace(s.ExternalOrderID)
	if !numeric.MatchString(receiptID) {
		return invalid(fmt.Sprintf("external order id %q is not an Etsy receipt_id", receiptID))
	}
	ss, err := a.session(tr, store, "push shipment")
	if err != nil {
		return tr.Result(false, ""), err
	}
	receiptURL := ss.base + "/v3/application/shops/" + store.ShopID + "/receipts/" + receiptID
	code := strings.TrimSpace(s.TrackingNumber)
	// createReceiptShipment takes a JSON body (ShopReceipt_CreateShipment in the
	// Open API v3 specification).
	body, err := json.Marshal(map[string]any{"tracking_code": code, "carrier_name": etsyCarrier(s.Carrier), "send_bcc": false})
	if err != nil {
		return tr.Result(false, ""), fmt.Errorf("encode tracking: %w", err)
	}

	var (
		read      bool
		duplicate bool
		ref       string
	)
	err = a.retry.Do(ctx, func(ctx context.Context) error {
		if !read {
			var rc receipt
			if err := a.call(ctx, tr, ss, store, marketplace.Request{Op: "getShopReceipt", Method: "GET", URL: receiptURL}, &rc); err != nil {
				return err
			}
			if id, ok := rc.shippingID(code); ok {
				duplicate, ref = true, id
				return nil
			}
			read = true
		}
		var rc receipt
		err := a.call(ctx, tr, ss, store, marketplace.Request{Op: "createReceiptShipment", Method: "POST",
			URL: receiptURL + "/tracking", ContentType: "application/json", Body: body}, &rc)
		if err == nil {
			var ok bool
			if ref, ok = rc.shippingID(code); !ok {
				// A 200 whose receipt lacks the new shipment is no proof the
				// tracking was added: read the receipt again and retry.
				err = &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Etsy,
					Op: "createReceiptShipment", Status: 200, Message: "the answer does not carry the new shipment"}
			}
		}
		switch r := domain.ReasonOf(err); {
		case err == nil:
		case r != domain.ReasonThrottled && r != domain.ReasonBudget && domain.IsRetryable(err):
			read = false // the tracking may have been added without our hearing of it
		}
		return err
	})
	return tr.Result(duplicate, ref), err
}

// session is what every call for one store needs: the API base, the OAuth
// token source and the key's rate budget.
type session struct {
	base   string
	auth   *marketplace.Auth
	budget *marketplace.Budget
	day    *dayLog
}

// session checks the store can be spoken for (numeric shop_id, an API key of
// Etsy's shape) before anything leaves the process.
func (a *Adapter) session(tr *marketplace.Trace, store domain.Store, op string) (session, error) {
	if !numeric.MatchString(store.ShopID) {
		return session{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid,
			Marketplace: domain.Etsy, Op: op, Message: fmt.Sprintf("shop id %q is not an Etsy shop_id", store.ShopID)}
	}
	if store.Credentials.APIKey == "" {
		return session{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonAuth,
			Marketplace: domain.Etsy, Op: op, Message: "the store has no API key"}
	}
	if !keyShape.MatchString(store.Credentials.APIKey) {
		return session{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonAuth,
			Marketplace: domain.Etsy, Op: op, Message: "the store's API key is not keystring:shared_secret; reconnect the store"}
	}
	base := strings.TrimRight(store.BaseURL, "/")
	if base == "" {
		base = "https://api.etsy.com"
	}
	tokenURL := store.TokenURL
	if tokenURL == "" {
		tokenURL = base + "/v3/public/oauth/token"
	}
	keystring, _, _ := strings.Cut(store.Credentials.APIKey, ":")
	clientID := store.Credentials.ClientID
	if clientID == "" {
		clientID = keystring
	}
	// Etsy budgets requests per application (API key), not per shop.
	return session{base: base, budget: a.budgets.Get(domain.Etsy, keystring, defaultPerSecond, 1), day: a.dayLog(keystring),
		auth: &marketplace.Auth{Tokens: a.tokens, Store: store,
			Refresh: marketplace.RefreshOAuth(a.client, tr, tokenURL, url.Values{"client_id": {clientID}})}}, nil
}

// call sends one API request within the key's budget, refreshing the token once if
// Etsy refuses it, and decodes a successful answer into out.
func (a *Adapter) call(ctx context.Context, tr *marketplace.Trace, ss session, store domain.Store, req marketplace.Request, out any) error {
	for {
		tok, err := ss.auth.Token(ctx)
		if err != nil {
			return err
		}
		done, err := ss.budget.Wait(ctx)
		if err != nil {
			return err
		}
		sent := a.now()
		seq := ss.day.reserve(sent)
		if seq == 0 {
			// The day has no place left for this request: every replica
			// waits until one frees, and this call's wait says whether it
			// fits its deadline.
			ss.budget.Spend(ss.day.freesIn(sent))
			done()
			continue
		}
		req.Header = map[string][]string{"x-api-key": {store.Credentials.APIKey}, "Authorization": {"Bearer " + tok}}
		req.Budget = ss.budget
		resp, err := a.client.Send(ctx, tr, req)
		if err != nil {
			done()
			if errors.Is(err, marketplace.ErrHeld) {
				continue // never sent; its place in the day's log stays taken, erring low
			}
			return err
		}
		a.learn(ss, resp, seq, sent)
		done()
		// The key's budget, which all of its shops share, as this shop saw it.
		marketplace.ObserveBudget(domain.Etsy, store, ss.budget.Used())
		if resp.Status == 401 {
			again, err := ss.auth.Refused(ctx, tok)
			if err != nil {
				return err
			}
			if again {
				continue
			}
		}
		if resp.Status/100 == 2 {
			if err := json.Unmarshal(resp.Body, out); err != nil {
				return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Etsy,
					Op: req.Op, Status: resp.Status, Message: "unexpected answer", Err: err}
			}
			return nil
		}
		e := marketplace.Classify(domain.Etsy, req.Op, resp)
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(resp.Body, &body) == nil && body.Error != "" {
			e.Message = strings.TrimSpace(body.Error + " " + body.Description)
		}
		return e
	}
}

// learn adjusts the budget from Etsy's rate-limit headers. The per-day quota
// is a rolling 24-hour window (the rate-limits page of Open API v3): when
// x-remaining-today reaches zero, a place frees when the oldest request still
// in the window turns 24 hours old, not at midnight. This process's own log
// of the key's requests says when that is at the latest (requests of other
// replicas or other clients can only free a place earlier); the pause goes
// to the shared budget, so every replica keeps it.
func (a *Adapter) learn(ss session, resp *marketplace.Response, seq uint64, sent time.Time) {
	b, h := ss.budget, resp.Header
	if n, err := strconv.Atoi(h.Get("x-limit-per-second")); err == nil && n > 0 {
		b.Learn(float64(n), n)
	}
	if n, err := strconv.Atoi(h.Get("x-remaining-this-second")); err == nil && n <= 0 {
		b.Spend(time.Second)
	}
	if n, err := strconv.Atoi(h.Get("x-remaining-today")); err == nil {
		ss.day.report(n, seq, sent)
		if _, burst := b.Limit(); n > 0 && n < burst {
			// The day's last few requests leave no more at once than remain.
			b.Learn(0, n)
		}
		if n <= 0 {
			b.Spend(ss.day.freesIn(a.now()))
		}
	}
	if resp.Status == 429 {
		wait, ok := marketplace.ParseRetryAfter(h.Get("Retry-After"), time.Now())
		if !ok {
			wait = time.Second
		}
		b.Spend(wait)
	}
}
