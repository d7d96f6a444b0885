package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
	"unicode"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
)

// RequestedItem is an item as the client asks for it.
type RequestedItem struct {
	VariantID   string
	Quantity    int32
	DesignID    string
	PlacementID string
	// ExternalItemID is the marketplace's line item id (imported orders).
	ExternalItemID string
}

// CreateOrderInput is a create request. There is deliberately no total:
// totals come only from pricing.
type CreateOrderInput struct {
	Items           []RequestedItem
	Address         domain.AddressFields
	Currency        string
	CouponCode      string
	PaymentMethod   domain.PaymentMethod
	StoreID         string
	ExternalOrderID string
	// ShippingMethod is the method to price ("" for the cheapest that
	// reaches the address).
	ShippingMethod string
	// Draft creates a DRAFT (confirm: false): priced without redeeming
	// the coupon, no stock held, nothing charged, no notice.
	Draft bool
}

// Encoder renders the response of a create; its bytes are stored with the
// idempotency key and replayed as they are.
type Encoder func(*domain.Order) ([]byte, error)

// MaxIdempotencyKeyLen bounds the Idempotency-Key header.
const MaxIdempotencyKeyLen = 255

func checkIdempotencyKey(key string) error {
	if key == "" {
		return errs.Field("idempotency-key", "the Idempotency-Key header is required")
	}
	if len(key) > MaxIdempotencyKeyLen {
		return errs.Field("idempotency-key", "is longer than 255 characters")
	}
	for _, r := range key {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return errs.Field("idempotency-key", "must be printable ASCII")
		}
	}
	return nil
}

// checkInput validates a request before anything is looked up or written.
func checkInput(in CreateOrderInput) error {
	if len(in.Items) == 0 {
		return errs.Field("items", "at least one item is required")
	}
	if len(in.Items) > domain.MaxItems {
		return errs.Field("items", fmt.Sprintf("at most %d items are allowed", domain.MaxItems))
	}
	for i, it := range in.Items {
		if err := domain.CheckRequestedItem(i, it.VariantID, it.Quantity, it.DesignID, it.PlacementID); err != nil {
			return err
		}
	}
	if _, err := domain.NewAddress("shipping_address", in.Address); err != nil {
		return err
	}
	if err := domain.CheckShippingMethod(in.ShippingMethod); err != nil {
		return err
	}
	return domain.CheckHeader(in.Currency, in.CouponCode, in.PaymentMethod, in.StoreID, in.ExternalOrderID)
}

// CreateOrder places an order for the caller, at most once per
// Idempotency-Key. It returns the encoded response: the new order, or the
// stored first response when the same request is repeated with the key.
func (s *Service) CreateOrder(ctx context.Context, caller principal.Principal, key string, hash []byte, in CreateOrderInput, encode Encoder) ([]byte, error) {
	if err := caller.Require(principal.RoleUser, principal.RoleAdmin); err != nil {
		return nil, err
	}
	if err := checkIdempotencyKey(key); err != nil {
		return nil, err
	}
	if err := checkInput(in); err != nil {
		return nil, err
	}
	// A repeat of a request still running in this process is answered at
	// once; across processes the key's primary key decides (the create
	// transaction takes it, see Store.CreateOrder).
	done, err := s.inflight.hold(caller.Subject, key, hash)
	if err != nil {
		return nil, err
	}
	defer done()
	return s.place(ctx, caller.Subject, key, hash, in, encode)
}

func (s *Service) place(ctx context.Context, userID, key string, hash []byte, in CreateOrderInput, encode Encoder) ([]byte, error) {
	_, resp, err := s.placeOrder(ctx, userID, key, hash, in, encode, nil)
	return resp, err
}

// placeOrder prepares and writes an order. replayed says the key had
// answered already (resp is that answer, o is nil). extra adds timeline
// entries after order.placed (an import's order.imported).
func (s *Service) placeOrder(ctx context.Context, userID, key string, hash []byte, in CreateOrderInput, encode Encoder,
	extra func(o *domain.Order) []domain.TimelineEntry) (o *domain.Order, resp []byte, err error) {
	// The order's id is chosen first: the quote redeems its coupon for it.
	o, err = s.prepare(ctx, s.newID(), userID, key, in)
	if err != nil {
		return nil, nil, err
	}
	resp, err = encode(o)
	if err != nil {
		return nil, nil, fmt.Errorf("encode order: %w", err)
	}
	change := Change{
		Timeline: []domain.TimelineEntry{{
			ID: s.newID(), OrderID: o.ID(), Type: domain.EventPlaced, To: domain.StatusPending,
			Message: "order placed", Attributes: pricingAttrs(o, nil), CreatedAt: o.CreatedAt(),
		}},
		Events: withIDs(s.newID, events.OrderPlaced(o), events.CreatedNotice(o)),
	}
	if in.Draft {
		// A draft holds nothing and tells no one: no OrderPlaced (no
		// stock, no charge, no coupon use), no notice.
		change = Change{Timeline: []domain.TimelineEntry{{
			ID: s.newID(), OrderID: o.ID(), Type: domain.EventDrafted, To: domain.StatusDraft,
			Message: "draft created", CreatedAt: o.CreatedAt(),
			Attributes: pricingAttrs(o, map[string]string{"expires_at": o.ExpiresAt().Format(time.RFC3339)}),
		}}}
	}
	if extra != nil {
		change.Timeline = append(change.Timeline, extra(o)...)
	}
	replay, err := s.store.CreateOrder(ctx, o, change, IdempotencyRecord{UserID: userID, Key: key, Hash: hash, Response: resp, TTL: s.IdempotencyTTL})
	if err != nil {
		return nil, nil, err
	}
	if replay != nil {
		return nil, replay, nil
	}
	s.cache.Prime(ctx, o)
	s.recent.Mark(ctx, o.UserID())
	s.log.InfoContext(ctx, "order placed", "order_id", o.ID(), "items", len(in.Items), "store_id", in.StoreID, "draft", in.Draft)
	return o, resp, nil
}

// prepare checks the items against the catalog, prices them and builds the
// order id (not written yet); key is the caller's Idempotency-Key, under
// which pricing redeems a coupon once. A draft (in.Draft) redeems nothing:
// it is priced as a plain quote and built as a DRAFT.
func (s *Service) prepare(ctx context.Context, id, userID, key string, in CreateOrderInput) (*domain.Order, error) {
	redeem := orderKey(userID, key)
	if in.Draft {
		redeem = ""
	}
	var (
		lookup CatalogLookup
		quote  Quote
	)
	// The quote does not depend on the catalog's answer: ask both at once.
	// An order with a coupon asks pricing only once the catalog accepted
	// it, so that an order refused for its items holds no coupon use until
	// the reservation expires.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		lookup, err = s.lookupCatalog(gctx, userID, in.StoreID, in.Items)
		return err
	})
	if in.CouponCode == "" {
		g.Go(func() (err error) {
			quote, err = s.quote(gctx, in, redeem, id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if in.CouponCode != "" {
		var err error
		if quote, err = s.quote(ctx, in, redeem, id); err != nil {
			return nil, err
		}
	}
	return s.buildOrder(id, userID, traceID(ctx), in, lookup, quote)
}

// lookupCatalog resolves every variant and design in one call and checks
// each item against it.
func (s *Service) lookupCatalog(ctx context.Context, userID, storeID string, items []RequestedItem) (CatalogLookup, error) {
	var variantIDs, designIDs []string
	for _, it := range items {
		if !slices.Contains(variantIDs, it.VariantID) {
			variantIDs = append(variantIDs, it.VariantID)
		}
		if it.DesignID != "" && !slices.Contains(designIDs, it.DesignID) {
			designIDs = append(designIDs, it.DesignID)
		}
	}
	lookup, err := s.catalog.GetVariants(ctx, variantIDs, designIDs, storeID)
	if err != nil {
		return CatalogLookup{}, fmt.Errorf("catalog: %w", err)
	}
	// Someone else's store is reported exactly like a missing one: an order
	// must never make the marketplace worker push with another seller's
	// credentials.
	if storeID != "" && (lookup.Store == nil || lookup.Store.OwnerID != userID) {
		return CatalogLookup{}, errs.Field("store_id", "unknown store")
	}
	for i, it := range items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		v, ok := lookup.Variants[it.VariantID]
		switch {
		case !ok:
			return CatalogLookup{}, errs.Field(field("variant_id"), "unknown variant")
		case !v.Active || !v.ProductActive:
			return CatalogLookup{}, errs.Field(field("variant_id"), "variant is not available")
		}
		if it.DesignID == "" {
			continue
		}
		d, ok := lookup.Designs[it.DesignID]
		switch {
		case !ok || d.OwnerID != userID:
			// Someone else's design is reported exactly like a missing one.
			return CatalogLookup{}, errs.Field(field("design_id"), "unknown design")
		case !d.Ready:
			return CatalogLookup{}, errs.Field(field("design_id"), "design is not ready")
		case !slices.ContainsFunc(v.Placements, func(p domain.PlacementSpec) bool { return p.PlacementID == it.PlacementID }):
			return CatalogLookup{}, errs.Field(field("placement_id"), "placement does not belong to the variant's product")
		case d.RejectedPlacements[it.PlacementID]:
			return CatalogLookup{}, errs.Field(field("design_id"), "design resolution is too low for this placement")
		}
	}
	return lookup, nil
}

// orderKey names one placement across the retries of its create: the
// caller's Idempotency-Key, scoped to the caller. Pricing redeems a coupon
// once per key, so a retry takes no second use.
func orderKey(userID, key string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// quote prices the order and, when it names a coupon, redeems one use of it
// (refused with CONFLICT naming the coupon when the coupon's limits are
// reached: the order is not placed rather than placed at full price).
func (s *Service) quote(ctx context.Context, in CreateOrderInput, key, orderID string) (Quote, error) {
	req := QuoteRequest{
		CountryCode: in.Address.CountryCode, Currency: in.Currency, CouponCode: in.CouponCode,
		ShippingMethod: in.ShippingMethod, Region: quoteRegion(in.Address.Region), OrderKey: key, OrderID: orderID,
	}
	if key == "" {
		req.OrderID = ""
	}
	for _, it := range in.Items {
		qi := QuoteItem{VariantID: it.VariantID, Quantity: it.Quantity}
		if it.PlacementID != "" {
			qi.PlacementIDs = []string{it.PlacementID}
		}
		req.Items = append(req.Items, qi)
	}
	q, err := s.pricing.CreateQuote(ctx, req)
	if err != nil {
		return Quote{}, fmt.Errorf("pricing: %w", err)
	}
	return q, nil
}

// buildOrder assembles the aggregate; totals come only from the quote.
func (s *Service) buildOrder(id, userID, tid string, in CreateOrderInput, lookup CatalogLookup, q Quote) (*domain.Order, error) {
	used := make([]bool, len(q.Lines))
	f := domain.OrderFields{
		ID: id, UserID: userID, Address: in.Address, Currency: in.Currency,
		Subtotal: q.Subtotal, Shipping: q.Shipping, Discount: q.Discount, Total: q.Total,
		CouponCode: in.CouponCode, PaymentMethod: in.PaymentMethod, StoreID: in.StoreID,
		ExternalOrderID: in.ExternalOrderID, QuoteID: q.ID, CreatedAt: s.now(), TraceID: tid,
		ShippingMethod: q.ShippingMethod, DeliveryEstimate: q.DeliveryEstimate, Tax: q.Tax, TaxIncluded: q.TaxIncluded,
	}
	if f.ShippingMethod == "" {
		// Pricing named no method: the order keeps the one asked for.
		f.ShippingMethod = in.ShippingMethod
	}
	for i, it := range in.Items {
		// Lines are matched to items by variant and quantity, in order, so
		// that pricing may return them in any order.
		li := slices.IndexFunc(q.Lines, func(l QuoteLine) bool { return l.VariantID == it.VariantID && l.Quantity == it.Quantity })
		for li >= 0 && used[li] {
			next := slices.IndexFunc(q.Lines[li+1:], func(l QuoteLine) bool { return l.VariantID == it.VariantID && l.Quantity == it.Quantity })
			if next < 0 {
				li = -1
				break
			}
			li += 1 + next
		}
		if li < 0 {
			return nil, errs.Wrap(errs.Internal, fmt.Errorf("quote %s has no line for item %d", q.ID, i), "pricing returned an inconsistent quote")
		}
		used[li] = true
		v := lookup.Variants[it.VariantID]
		item := domain.ItemFields{
			ID: s.newID(), VariantID: it.VariantID, ProductID: v.ProductID, SKU: v.SKU,
			Title: title(v), Quantity: it.Quantity, DesignID: it.DesignID, PlacementID: it.PlacementID,
			UnitPrice: q.Lines[li].UnitPrice, LineTotal: q.Lines[li].LineTotal, ExternalItemID: it.ExternalItemID,
		}
		if it.DesignID != "" {
			item.DesignKey = lookup.Designs[it.DesignID].Key
			for _, p := range v.Placements {
				if p.PlacementID == it.PlacementID {
					p := p
					item.Placement = &p
				}
			}
		}
		f.Items = append(f.Items, item)
	}
	var (
		o   *domain.Order
		err error
	)
	if in.Draft {
		o, err = domain.NewDraft(f, f.CreatedAt.Add(s.DraftTTL))
	} else {
		o, err = domain.NewOrder(f)
	}
	if err != nil && errs.KindOf(err) == errs.Internal {
		return nil, errs.Wrap(errs.Internal, err, "pricing returned an inconsistent quote")
	}
	return o, err
}

func title(v CatalogVariant) string {
	switch {
	case v.ProductTitle == "":
		return v.Title
	case v.Title == "":
		return v.ProductTitle
	}
	return v.ProductTitle + " — " + v.Title
}

// withIDs gives each event a fresh id (the message id consumers dedupe on)
// and leaves out the zero events, which nothing consumes (see
// events.StatusChanged).
func withIDs(newID IDs, evs ...outboxEvent) []outboxEvent {
	out := evs[:0]
	for _, e := range evs {
		if e.Type == "" {
			continue
		}
		if e.ID == "" {
			e.ID = newID()
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// traceID is the W3C trace id of ctx's span, as the store keeps it with a
// new order (its traceparent): "" without a valid one.
func traceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
