// Package amazon speaks the Selling Partner API's Orders v0 for a store: it
// pushes tracking (confirmShipment) and polls orders to import (getOrders,
// getOrderItems), with a Login with Amazon access token, at the store's
// region's endpoint, and with a token bucket per operation and store. The
// package reference id is derived from our shipment id, so a resend edits the
// package instead of adding one.
package amazon

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// confirmShipment's documented budget: 2 requests per second, burst 10.
const (
	defaultRate  = 2
	defaultBurst = 10
)

// Production endpoints: the SP-API root of each region, and Login with Amazon.
const (
	DefaultBaseURL   = "https://sellingpartnerapi-na.amazon.com"
	DefaultEUBaseURL = "https://sellingpartnerapi-eu.amazon.com"
	DefaultFEBaseURL = "https://sellingpartnerapi-fe.amazon.com"
	DefaultTokenURL  = "https://api.amazon.com/auth/o2/token"
)

// endpoints are the store's SP-API root and token endpoint: the configured
// ones (marketplace.Router sets them by region), else production's for the
// store's region.
func endpoints(store domain.Store) (base, tokenURL string) {
	base, tokenURL = strings.TrimRight(store.BaseURL, "/"), store.TokenURL
	switch {
	case base == "":
		region, _ := marketplace.AmazonRegion(store)
		base = map[string]string{"eu": DefaultEUBaseURL, "fe": DefaultFEBaseURL}[region]
		if base == "" {
			base = DefaultBaseURL
		}
		if tokenURL == "" {
			tokenURL = DefaultTokenURL
		}
	case tokenURL == "":
		tokenURL = base + "/auth/o2/token"
	}
	return base, tokenURL
}

// auth is the store's Login with Amazon access token, refreshed with its
// client id and secret.
func (a *Adapter) auth(tr *marketplace.Trace, store domain.Store, tokenURL string) *marketplace.Auth {
	return &marketplace.Auth{Tokens: a.tokens, Store: store, Refresh: marketplace.RefreshOAuth(a.client, tr, tokenURL,
		url.Values{"client_id": {store.Credentials.ClientID}, "client_secret": {store.Credentials.ClientSecret}})}
}

// Adapter pushes shipments to Amazon sellers and polls their orders.
type Adapter struct {
	client  *marketplace.Client
	retry   marketplace.Retry
	tokens  *marketplace.Tokens
	budgets *marketplace.Budgets
}

var _ marketplace.Pusher = (*Adapter)(nil)

// New returns an Amazon adapter.
func New(o marketplace.Options) *Adapter {
	o = o.WithDefaults()
	return &Adapter{client: o.Client(domain.Amazon), retry: o.Retry, tokens: o.Tokens, budgets: o.Budgets}
}

// PackageReferenceID derives Amazon's packageReferenceId (a positive number) from
// our shipment id: the same shipment always maps to the same package.
func PackageReferenceID(shipmentID string) string {
	h := fnv.New64a()
	h.Write([]byte(shipmentID))
	return strconv.FormatUint(h.Sum64()%(1<<53)+1, 10)
}

// carrierCodes maps carrier codes to SP-API carrierCode values; others go as
// carrierCode "Other" with the carrier's name.
var carrierCodes = map[string]string{"usps": "USPS", "ups": "UPS", "fedex": "FedEx", "dhl": "DHL"}

type orderItem struct {
	OrderItemID string `json:"orderItemId"`
	Quantity    int    `json:"quantity"`
}

type packageDetail struct {
	PackageReferenceID string      `json:"packageReferenceId"`
	CarrierCode        string      `json:"carrierCode"`
	CarrierName        string      `json:"carrierName,omitempty"`
	TrackingNumber     string      `json:"trackingNumber"`
	ShipDate           string      `json:"shipDate"`
	OrderItems         []orderItem `json:"orderItems"`
}

type confirmShipmentRequest struct {
	MarketplaceID string        `json:"marketplaceId"`
	PackageDetail packageDetail `json:"packageDetail"`
}

// PushShipment implements marketplace.Pusher.
func (a *Adapter) PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error) {
	tr := marketplace.NewTrace()
	if err := s.Validate(); err != nil {
		return tr.Result(false, ""), err
	}
	invalid := func(msg string) (domain.Result, error) {
		return tr.Result(false, ""), &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid,
			Marketplace: domain.Amazon, Op: "push shipment", Message: msg}
	}
	if store.ShopID == "" {
		return invalid("the store has no marketplace id")
	}
	if len(s.Items) == 0 {
		return invalid("confirmShipment needs the shipped order items")
	}
	ref := PackageReferenceID(s.ShipmentID)
	pkg := packageDetail{PackageReferenceID: ref, TrackingNumber: strings.TrimSpace(s.TrackingNumber)}
	carrier := marketplace.Carrier(s.Carrier)
	if code, ok := carrierCodes[carrier]; ok {
		pkg.CarrierCode = code
	} else {
		pkg.CarrierCode, pkg.CarrierName = "Other", s.Carrier
	}
	shipped := s.ShippedAt
	if shipped.IsZero() {
		shipped = time.Now()
	}
	pkg.ShipDate = shipped.UTC().Format(time.RFC3339)
	for _, it := range s.Items {
		if it.ExternalID == "" || it.Quantity < 1 {
			return invalid("every item needs an Amazon orderItemId and a quantity")
		}
		pkg.OrderItems = append(pkg.OrderItems, orderItem{OrderItemID: it.ExternalID, Quantity: it.Quantity})
	}
	body, err := json.Marshal(confirmShipmentRequest{MarketplaceID: store.ShopID, PackageDetail: pkg})
	if err != nil {
		return invalid("encode request: " + err.Error())
	}
	base, tokenURL := endpoints(store)
	req := marketplace.Request{Op: "confirmShipment", Method: "POST", ContentType: "application/json", Body: body,
		URL: base + "/orders/v0/orders/" + url.PathEscape(strings.TrimSpace(s.ExternalOrderID)) + "/shipmentConfirmation"}
	budget := a.budgets.Get(domain.Amazon, store.ID, defaultRate, defaultBurst)
	auth := a.auth(tr, store, tokenURL)
	err = a.retry.Do(ctx, func(ctx context.Context) error {
		_, err := a.send(ctx, tr, auth, budget, req)
		return err
	})
	if err != nil {
		ref = ""
	}
	return tr.Result(false, ref), err
}

type spErrors struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details string `json:"details"`
	} `json:"errors"`
}

// send makes one SP-API call within the operation's budget with the store's
// access token, refreshing it once if Amazon refuses it. It adopts the rate
// announced in x-amzn-RateLimit-Limit, and a 429 empties the budget. Any answer
// but a 2xx is a classified *domain.Error.
func (a *Adapter) send(ctx context.Context, tr *marketplace.Trace, auth *marketplace.Auth, budget *marketplace.Budget, req marketplace.Request) (*marketplace.Response, error) {
	for {
		tok, err := auth.Token(ctx)
		if err != nil {
			return nil, err
		}
		done, err := budget.Wait(ctx)
		if err != nil {
			return nil, err
		}
		req.Header = map[string][]string{"x-amz-access-token": {tok}}
		req.Budget = budget
		resp, err := a.client.Send(ctx, tr, req)
		if err != nil {
			done()
			if errors.Is(err, marketplace.ErrHeld) {
				continue // never sent: wait on the budget again
			}
			return nil, err
		}
		if r, err := strconv.ParseFloat(resp.Header.Get("x-amzn-RateLimit-Limit"), 64); err == nil && r > 0 {
			budget.Learn(r, 0)
		}
		if resp.Status == 429 {
			// Somebody spent this seller's bucket; start ours from empty too.
			wait, _ := marketplace.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			budget.Spend(wait)
		}
		done()
		// The operation's budget: the last one this store used.
		marketplace.ObserveBudget(domain.Amazon, auth.Store, budget.Used())
		if resp.Status/100 == 2 {
			return resp, nil
		}
		var body spErrors
		_ = json.Unmarshal(resp.Body, &body)
		code, msg := "", ""
		if len(body.Errors) > 0 {
			code = body.Errors[0].Code
			msg = strings.TrimSpace(body.Errors[0].Message + " " + body.Errors[0].Details)
			for _, e := range body.Errors[1:] {
				msg += "; " + strings.TrimSpace(e.Message+" "+e.Details)
			}
		}
		if resp.Status == 401 || (resp.Status == 403 && code == "Unauthorized") {
			again, err := auth.Refused(ctx, tok)
			if err != nil {
				return nil, err
			}
			if again {
				continue
			}
		}
		e := marketplace.Classify(domain.Amazon, req.Op, resp)
		if code != "" {
			e.Code, e.Message = code, msg
		}
		return nil, e
	}
}
