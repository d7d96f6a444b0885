package marketplace

// Shopify shops the sandbox issues, and their credentials. A shop is issued
// with an app's client id and client secret (Shopify signs the app's webhooks
// with the client secret) and an expiring offline access token with a refresh
// token, as Shopify grants them since December 2025 ("Offline access tokens now
// support expiry and refresh"): the access token lasts Limits.TokenTTL (one
// hour by default) and POST /admin/oauth/access_token with
// grant_type=refresh_token exchanges the refresh token for a new pair. The
// Admin API accepts only access tokens the sandbox issued, for their own shop,
// not expired.

import (
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// refreshTokenTTL is how long a Shopify refresh token lasts
// (refresh_token_expires_in).
const refreshTokenTTL = 90 * 24 * time.Hour

// shopifyScopes are the access scopes the sandbox grants.
const shopifyScopes = "read_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders"

// ShopifyCredentials are what the sandbox issued to a shop's app.
type ShopifyCredentials struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// WebhookSecret is the client secret: Shopify signs webhooks with it.
	WebhookSecret string `json:"webhook_secret"`
}

// ShopifyStore is the body to POST to the fleet's /v1/stores (plus a name).
type ShopifyStore struct {
	Marketplace string             `json:"marketplace"`
	ShopID      string             `json:"shop_id"`
	Region      string             `json:"region,omitempty"`
	Credentials ShopifyCredentials `json:"credentials"`
}

// ShopifyShop is an issued shop: POST /_sandbox/shopify/shops answers it.
type ShopifyShop struct {
	ShopID    string       `json:"shop_id"`
	Store     ShopifyStore `json:"store"`
	ExpiresAt time.Time    `json:"access_token_expires_at"`
}

var shopIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,59}$`)

// IssueShopifyShop issues credentials for shop (a new "shop-<hex>" when
// empty). Issuing again for a known shop issues new credentials and keeps its
// orders; the old access tokens stop working.
func (s *Server) IssueShopifyShop(shop string) (ShopifyShop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shop = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(shop)), ".myshopify.com")
	if shop == "" {
		shop = "shop-" + s.dice.Hex(8)
	}
	if !shopIDRE.MatchString(shop) {
		return ShopifyShop{}, errInvalid("shop_id must be a myshopify.com shop name: lowercase letters, digits and dashes")
	}
	sh := s.shop(shop)
	for tok, it := range s.markets[Shopify].tokens.issued {
		if it.subject == shop {
			delete(s.markets[Shopify].tokens.issued, tok)
		}
	}
	sh.clientID = s.dice.Hex(32)
	sh.clientSecret = "shpss_" + s.dice.Hex(32)
	access, ttl := s.issueLocked(Shopify, "shpat_", shop)
	sh.refresh = map[string]time.Time{}
	refresh := "shprt_" + s.dice.Hex(32)
	sh.refresh[refresh] = time.Now().Add(refreshTokenTTL)
	sh.issued = true
	return ShopifyShop{ShopID: shop, ExpiresAt: time.Now().Add(ttl).UTC(), Store: ShopifyStore{
		Marketplace: "MARKETPLACE_SHOPIFY", ShopID: shop,
		Credentials: ShopifyCredentials{AccessToken: access, RefreshToken: refresh, ClientID: sh.clientID,
			ClientSecret: sh.clientSecret, WebhookSecret: sh.clientSecret},
	}}, nil
}

type invalidErr string

func (e invalidErr) Error() string { return string(e) }

func errInvalid(msg string) error { return invalidErr(msg) }

func (s *Server) shopifyIssueShop(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ShopID string `json:"shop_id"`
		Region string `json:"region"`
	}
	if r.ContentLength != 0 {
		if err := sim.DecodeJSON(w, r, &body); err != nil {
			sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
			return
		}
	}
	if body.Region != "" {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "region is for Amazon sellers only"})
		return
	}
	shop, err := s.IssueShopifyShop(body.ShopID)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	sim.WriteJSON(w, http.StatusCreated, shop)
}

// shopifyAuthLocked checks an Admin API access token: issued by the sandbox,
// for this shop, not expired. Using a refreshed token retires the refresh token
// it replaced.
func (s *Server) shopifyAuthLocked(shop, tok string, now time.Time) tokenState {
	book := &s.markets[Shopify].tokens
	it, known := book.issued[tok]
	if tok == "" || !known || it.subject != shop {
		return tokenMissing
	}
	st := book.check(tok, now)
	if sh, ok := s.shops[shop]; ok && st == tokenOK && sh.pendingAccess == tok {
		delete(sh.refresh, sh.retiring)
		sh.pendingAccess, sh.retiring = "", ""
	}
	return st
}

// shopifyAccessToken is POST https://{shop}.myshopify.com/admin/oauth/access_token
// with grant_type=refresh_token, client_id, client_secret and refresh_token
// (form or JSON). It answers access_token, expires_in, refresh_token,
// refresh_token_expires_in and scope. The refresh token rotates; the one spent
// keeps working until the new access token is first used, so a refresh whose
// answer was lost can be made again.
func (s *Server) shopifyAccessToken(w http.ResponseWriter, r *http.Request) {
	shop := r.PathValue("shop")
	if !s.arrive(r, Shopify) {
		return
	}
	form, err := oauthForm(w, r)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	switch {
	case form.Get("grant_type") != "refresh_token":
		s.countLocked(Shopify, func(c *Counters) { c.ValidationErrors++ })
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	case !ok || !sh.issued || form.Get("client_id") != sh.clientID || form.Get("client_secret") != sh.clientSecret:
		s.countLocked(Shopify, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client credentials are invalid"})
		return
	}
	rt := form.Get("refresh_token")
	exp, known := sh.refresh[rt]
	if !known || now.After(exp) {
		s.countLocked(Shopify, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The refresh token is invalid or expired"})
		return
	}
	if sh.pendingAccess != "" {
		// A second refresh before the first's token was used: the first's
		// pair is dropped.
		delete(s.markets[Shopify].tokens.issued, sh.pendingAccess)
		for t := range sh.refresh {
			if t != rt && t != sh.retiring {
				delete(sh.refresh, t)
			}
		}
	}
	access, ttl := s.issueLocked(Shopify, "shpat_", shop)
	next := "shprt_" + s.dice.Hex(32)
	sh.refresh[next] = now.Add(refreshTokenTTL)
	sh.pendingAccess, sh.retiring = access, rt
	s.countLocked(Shopify, func(c *Counters) { c.TokenRefreshes++ })
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": access, "scope": shopifyScopes,
		"expires_in": int(ttl.Seconds()), "refresh_token": next, "refresh_token_expires_in": int(refreshTokenTTL.Seconds())})
}

// oauthForm reads a token request sent as a form or as JSON.
func oauthForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var m map[string]string
		if err := sim.DecodeJSON(w, r, &m); err != nil {
			return nil, err
		}
		v := url.Values{}
		for k, x := range m {
			v.Set(k, x)
		}
		return v, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}
