package marketplace

// Shopify webhooks: a shop's app registers one address, and every order event
// (orders/create, orders/cancelled, orders/updated) is POSTed there as the REST
// order JSON with Shopify's headers: X-Shopify-Topic, X-Shopify-Hmac-Sha256
// (base64 HMAC-SHA256 of the raw body keyed with the app's client secret),
// X-Shopify-Shop-Domain, X-Shopify-Webhook-Id (one per delivery, the same on
// every retry of it), X-Shopify-Event-Id, X-Shopify-API-Version and
// X-Shopify-Triggered-At. A delivery is sent from a goroutine of its own
// (bounded), retried on a non-2xx answer a few times with a short backoff, and
// recorded for GET /_sandbox/shopify/webhooks. The switches webhook_copies,
// webhook_drop, webhook_bad_signature and webhook_shuffle (Faults) make it
// misbehave the ways Shopify's delivery may: duplicates, losses, forged
// signatures, reordering.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// ShopifyDelivery is one webhook delivery as the sandbox recorded it.
type ShopifyDelivery struct {
	WebhookID string `json:"webhook_id"`
	EventID   string `json:"event_id"`
	Topic     string `json:"topic"`
	Shop      string `json:"shop"`
	OrderID   string `json:"order_id"` // the order's legacy id
	Address   string `json:"address"`
	// Status is pending, held (waiting for a shuffled batch), delivered,
	// failed (every attempt answered non-2xx or not at all), dropped, or
	// no_address (no webhook registered).
	Status       string    `json:"status"`
	HTTPStatus   int       `json:"http_status"` // the last answer's status; 0 if none
	Attempts     int       `json:"attempts"`    // requests sent, every copy and retry
	Copies       int       `json:"copies"`
	Dropped      bool      `json:"dropped"`
	BadSignature bool      `json:"bad_signature"`
	TriggeredAt  time.Time `json:"triggered_at"`

	seq    int
	body   []byte
	secret string
}

// Webhook delivery tuning.
const (
	hookAttempts    = 4                      // per copy
	hookBackoff     = 50 * time.Millisecond  // doubled after each failed attempt
	hookShuffleWait = 150 * time.Millisecond // how long deliveries are held for a shuffled batch
	hookAPIVersion  = "2026-10"
)

var (
	hookClient = &http.Client{Timeout: 5 * time.Second}
	// hookSlots bounds the deliveries in flight at once.
	hookSlots = make(chan struct{}, 64)
	hookSeq   sync.Mutex
	hookN     int
)

// webhookLocked records a delivery of topic for order o and sends it unless a
// switch says otherwise; the caller holds s.mu.
func (s *Server) webhookLocked(shop string, sh *shopifyShop, topic string, o *shopifyOrder, now time.Time) {
	body, _ := json.Marshal(restOrder(shop, o))
	s.hookLocked(shop, sh, topic, o.legacy, body, now)
}

// hookLocked records a delivery of body and sends it unless a switch says
// otherwise; the caller holds s.mu.
func (s *Server) hookLocked(shop string, sh *shopifyShop, topic, orderID string, body []byte, now time.Time) {
	f := s.markets[Shopify].faults
	hookSeq.Lock()
	hookN++
	seq := hookN
	hookSeq.Unlock()
	d := &ShopifyDelivery{WebhookID: s.dice.Hex(8) + "-" + s.dice.Hex(4) + "-" + s.dice.Hex(4) + "-" + s.dice.Hex(4) + "-" + s.dice.Hex(12),
		EventID: s.dice.Hex(8) + "-" + s.dice.Hex(4) + "-" + s.dice.Hex(4) + "-" + s.dice.Hex(4) + "-" + s.dice.Hex(12),
		Topic:   topic, Shop: shop, OrderID: orderID, Address: sh.hookAddress, Copies: max(1, f.WebhookCopies),
		Dropped: f.WebhookDrop, BadSignature: f.WebhookBadSignature, TriggeredAt: now.UTC(), seq: seq, body: body,
		secret: sh.clientSecret}
	if d.BadSignature {
		d.secret = "shpss_not-the-client-secret"
	}
	sh.deliveries = append(sh.deliveries, d)
	switch {
	case d.Address == "":
		d.Status = "no_address"
	case d.Dropped:
		d.Status = "dropped"
	case f.WebhookShuffle:
		d.Status = "held"
		sh.pending = append(sh.pending, d)
		if len(sh.pending) == 1 {
			go s.flushShuffled(sh)
		}
	default:
		d.Status = "pending"
		go s.deliver(d)
	}
}

// flushShuffled sends the deliveries held during a short window, newest first,
// one after the other.
func (s *Server) flushShuffled(sh *shopifyShop) {
	time.Sleep(hookShuffleWait)
	s.mu.Lock()
	batch := sh.pending
	sh.pending = nil
	for _, d := range batch {
		d.Status = "pending"
	}
	s.mu.Unlock()
	slices.Reverse(batch)
	for _, d := range batch {
		s.deliver(d)
	}
}

// deliver sends every copy of d in parallel, each retried on failure, and
// records the outcome.
func (s *Server) deliver(d *ShopifyDelivery) {
	var wg sync.WaitGroup
	ok := make([]bool, d.Copies)
	for i := range d.Copies {
		wg.Go(func() {
			hookSlots <- struct{}{}
			defer func() { <-hookSlots }()
			ok[i] = s.deliverCopy(d)
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Status = "failed"
	if slices.Contains(ok, true) {
		d.Status = "delivered"
	}
}

func (s *Server) deliverCopy(d *ShopifyDelivery) bool {
	mac := hmac.New(sha256.New, []byte(d.secret))
	mac.Write(d.body)
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	backoff := hookBackoff
	for attempt := range hookAttempts {
		if attempt > 0 {
			time.Sleep(backoff)
			backoff *= 2
		}
		req, err := http.NewRequest(http.MethodPost, d.Address, bytes.NewReader(d.body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Shopify-Captain-Hook")
		req.Header.Set("X-Shopify-Topic", d.Topic)
		req.Header.Set("X-Shopify-Hmac-Sha256", sig)
		req.Header.Set("X-Shopify-Shop-Domain", d.Shop+".myshopify.com")
		req.Header.Set("X-Shopify-Webhook-Id", d.WebhookID)
		req.Header.Set("X-Shopify-Event-Id", d.EventID)
		req.Header.Set("X-Shopify-API-Version", hookAPIVersion)
		req.Header.Set("X-Shopify-Triggered-At", d.TriggeredAt.Format(time.RFC3339Nano))
		resp, err := hookClient.Do(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		s.mu.Lock()
		d.Attempts++
		d.HTTPStatus = status
		s.mu.Unlock()
		if status/100 == 2 {
			return true
		}
	}
	return false
}

// RegisterShopifyWebhook sets where the shop's webhooks go.
func (s *Server) RegisterShopifyWebhook(shop, address string) error {
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errInvalid("address must be an http(s) URL")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok || !sh.issued {
		return errNoShop
	}
	sh.hookAddress = address
	return nil
}

// ShopifyWebhooks returns every delivery recorded, oldest first.
func (s *Server) ShopifyWebhooks() []ShopifyDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*ShopifyDelivery
	for _, sh := range s.shops {
		all = append(all, sh.deliveries...)
	}
	slices.SortFunc(all, func(a, b *ShopifyDelivery) int { return a.seq - b.seq })
	out := make([]ShopifyDelivery, len(all))
	for i, d := range all {
		out[i] = *d
		out[i].body, out[i].secret = nil, ""
	}
	return out
}

func (s *Server) shopifyRegisterWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Address string `json:"address"`
	}
	if err := sim.DecodeJSON(w, r, &body); err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	switch err := s.RegisterShopifyWebhook(r.PathValue("shop"), body.Address); {
	case err == errNoShop:
		sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		sim.WriteJSON(w, http.StatusCreated, map[string]string{"shop_id": r.PathValue("shop"), "address": body.Address})
	}
}

func (s *Server) shopifyListWebhooks(w http.ResponseWriter, r *http.Request) {
	list := s.ShopifyWebhooks()
	if shop := r.URL.Query().Get("shop"); shop != "" {
		list = slices.DeleteFunc(list, func(d ShopifyDelivery) bool { return d.Shop != shop })
	}
	if list == nil {
		list = []ShopifyDelivery{}
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": list})
}

// VerifyShopifyWebhook reports whether sig, an X-Shopify-Hmac-Sha256 header,
// is the base64 HMAC-SHA256 of body keyed with secret, compared in constant
// time: how a receiver checks a Shopify webhook.
func VerifyShopifyWebhook(body []byte, sig, secret string) bool {
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// UninstallShopifyApp uninstalls the app from an issued shop, as its merchant
// would: every token of the shop stops working and app/uninstalled is sent
// (the body is the shop: id, name, domain, myshopify_domain).
func (s *Server) UninstallShopifyApp(shop string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok || !sh.issued {
		return errNoShop
	}
	for tok, it := range s.markets[Shopify].tokens.issued {
		if it.subject == shop {
			delete(s.markets[Shopify].tokens.issued, tok)
		}
	}
	sh.refresh, sh.pendingAccess, sh.retiring = map[string]time.Time{}, "", ""
	domain := shop + ".myshopify.com"
	body, _ := json.Marshal(map[string]any{"id": shopNumber(shop), "name": shop, "domain": domain, "myshopify_domain": domain})
	s.hookLocked(shop, sh, "app/uninstalled", "", body, time.Now())
	return nil
}

// shopNumber is a shop's numeric id, fixed by its name.
func shopNumber(shop string) int64 {
	var n int64 = 5381
	for _, c := range []byte(shop) {
		n = (n*33 + int64(c)) % 90_000_000_000
	}
	return 10_000_000_000 + n
}

func (s *Server) shopifyUninstall(w http.ResponseWriter, r *http.Request) {
	switch err := s.UninstallShopifyApp(r.PathValue("shop")); {
	case err != nil:
		sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	default:
		sim.WriteJSON(w, http.StatusOK, map[string]string{"shop_id": r.PathValue("shop"), "status": "uninstalled"})
	}
}
