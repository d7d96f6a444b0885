package app

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
)

// ImportLine is one line of a marketplace order, as the marketplace names it.
type ImportLine struct {
	ExternalItemID    string `json:"external_item_id,omitempty"`
	ExternalProductID string `json:"external_product_id,omitempty"`
	ExternalVariantID string `json:"external_variant_id,omitempty"`
	SKU               string `json:"sku,omitempty"`
	Title             string `json:"title,omitempty"`
	Quantity          int32  `json:"quantity"`
}

// ImportRequest is a marketplace order of a store, as the marketplace worker
// hands it over.
type ImportRequest struct {
	StoreID, OwnerID, Marketplace, ExternalOrderID string
	Lines                                          []ImportLine
	// Address is the marketplace's address, not validated yet.
	Address       domain.AddressFields
	Currency      string
	PaymentMethod domain.PaymentMethod
	Cancelled     bool
	CancelReason  string
}

// keptRequest is what an ON_HOLD order keeps of its import (JSON in the
// order's import_request): everything a retry resolves again. The store,
// owner and external order id are the order's own.
type keptRequest struct {
	Marketplace   string               `json:"marketplace"`
	Lines         []ImportLine         `json:"lines"`
	Address       domain.AddressFields `json:"address"`
	Currency      string               `json:"currency"`
	PaymentMethod domain.PaymentMethod `json:"payment_method"`
}

// ImportOutcome is what an import did; values match the proto enum.
type ImportOutcome int

// Import outcomes.
const (
	ImportImported  ImportOutcome = 1
	ImportHeld      ImportOutcome = 2
	ImportDuplicate ImportOutcome = 3
	ImportCancelled ImportOutcome = 4
	ImportIgnored   ImportOutcome = 5
)

// ImportResult is the order of a marketplace order (nil when none exists)
// and what the import did.
type ImportResult struct {
	Order   *domain.Order
	Outcome ImportOutcome
}

// Listing is what a marketplace line maps to: a variant, and optionally a
// design printed at a placement.
type Listing struct {
	VariantID, DesignID, PlacementID string
}

// ListingResolver maps a marketplace line of a store to its listing; a line
// no listing maps is errs.NotFound.
type ListingResolver interface {
	ResolveListing(ctx context.Context, storeID string, line ImportLine) (Listing, error)
}

// ImportStore is what imports need of the store besides Store.
type ImportStore interface {
	// FindByExternal reads the order of (storeID, externalID), or
	// errs.NotFound.
	FindByExternal(ctx context.Context, storeID, externalID string) (*domain.Order, error)
	// CreateHeldOrder writes an ON_HOLD order with c, unless the
	// marketplace order has its order already: then it writes nothing and
	// reports false.
	CreateHeldOrder(ctx context.Context, o *domain.Order, c Change) (created bool, err error)
}

// DefaultImportCurrency is the currency of an imported order whose
// marketplace named none.
const DefaultImportCurrency = "USD"

// importKey is the Idempotency-Key an imported order is placed under (for
// the store's owner): the same for every delivery of the marketplace order.
func importKey(storeID, externalID string) string {
	return "import:" + storeID + ":" + externalID
}

// importHash is the request hash stored with the import's key. It names the
// marketplace order, not one delivery of it: a webhook and a poll of the
// same order (their lines may differ in order or detail) replay each other
// instead of mismatching.
func importHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// ImportOrder creates the order of a marketplace order, or updates the one
// that exists: the marketplace worker alone calls it. Every line is resolved
// through the store's listings and the address validated; then the order is
// placed exactly like a direct create (for the store's owner). What the
// seller must fix first (an unmapped line, a design not ready, a bad
// address) creates the order ON_HOLD instead. Transient failures are
// returned: the worker retries the import.
func (s *Service) ImportOrder(ctx context.Context, caller principal.Principal, req ImportRequest, encode Encoder) (ImportResult, error) {
	if err := caller.Require(principal.RoleService); err != nil {
		return ImportResult{}, err
	}
	if caller.Subject != principal.SubjectMarketplaceWorker {
		return ImportResult{}, errs.E(errs.PermissionDenied, "only the marketplace worker imports orders")
	}
	if !domain.IsUUID(req.StoreID) || req.OwnerID == "" || req.ExternalOrderID == "" || (len(req.Lines) == 0 && !req.Cancelled) {
		return ImportResult{}, errs.E(errs.Invalid, "an import needs a store, its owner, an external order id and lines (unless cancelled)")
	}
	if s.imports == nil {
		return ImportResult{}, errs.E(errs.Internal, "the store does not support imports")
	}
	if req.Currency == "" {
		req.Currency = DefaultImportCurrency
	}
	existing, err := s.imports.FindByExternal(ctx, req.StoreID, req.ExternalOrderID)
	switch {
	case err == nil:
		return s.importExisting(ctx, existing, req)
	case !errs.Is(err, errs.NotFound):
		return ImportResult{}, err
	case req.Cancelled:
		return ImportResult{Outcome: ImportIgnored}, nil
	}
	in, reason, err := s.resolveImport(ctx, req)
	if err != nil {
		return ImportResult{}, err
	}
	if reason == "" {
		key := importKey(req.StoreID, req.ExternalOrderID)
		imported := func(o *domain.Order) []domain.TimelineEntry {
			return []domain.TimelineEntry{{
				ID: s.newID(), OrderID: o.ID(), Type: domain.EventImported,
				Message:    "imported from " + req.Marketplace + " order " + req.ExternalOrderID,
				Attributes: map[string]string{"marketplace": req.Marketplace, "external_order_id": req.ExternalOrderID},
				CreatedAt:  o.CreatedAt(),
			}}
		}
		o, _, err := s.placeOrder(ctx, req.OwnerID, key, importHash(key), in, encode, imported)
		if unsupportedCurrency(err, in.Currency) {
			// The marketplace's currency is not one pricing knows: the
			// store's default applies (nothing was written).
			in.Currency, req.Currency = DefaultImportCurrency, DefaultImportCurrency
			o, _, err = s.placeOrder(ctx, req.OwnerID, key, importHash(key), in, encode, imported)
		}
		switch {
		case err == nil && o != nil:
			s.log.InfoContext(ctx, "order imported", "order_id", o.ID(), "store_id", req.StoreID, "external_order_id", req.ExternalOrderID)
			return ImportResult{Order: o, Outcome: ImportImported}, nil
		case err == nil, errs.Is(err, errs.AlreadyExists):
			// A concurrent import placed (or held) it first.
			return s.duplicate(ctx, req)
		case sellersToFix(err):
			reason = holdReason(err, req.Lines)
		default:
			return ImportResult{}, err
		}
	}
	return s.hold(ctx, req, reason)
}

// duplicate answers an import whose order a concurrent import created.
func (s *Service) duplicate(ctx context.Context, req ImportRequest) (ImportResult, error) {
	o, err := s.imports.FindByExternal(ctx, req.StoreID, req.ExternalOrderID)
	if err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Order: o, Outcome: ImportDuplicate}, nil
}

// hold creates the marketplace order's order ON_HOLD with reason.
func (s *Service) hold(ctx context.Context, req ImportRequest, reason string) (ImportResult, error) {
	kept, err := json.Marshal(keptRequest{Marketplace: req.Marketplace, Lines: req.Lines, Address: req.Address,
		Currency: req.Currency, PaymentMethod: req.PaymentMethod})
	if err != nil {
		return ImportResult{}, fmt.Errorf("encode import request: %w", err)
	}
	o, err := domain.NewHeldOrder(domain.OrderFields{
		ID: s.newID(), UserID: req.OwnerID, Address: req.Address, Currency: req.Currency,
		PaymentMethod: req.PaymentMethod, StoreID: req.StoreID, ExternalOrderID: req.ExternalOrderID, CreatedAt: s.now(),
	}, reason, kept)
	if err != nil {
		return ImportResult{}, err
	}
	created, err := s.imports.CreateHeldOrder(ctx, o, Change{Timeline: []domain.TimelineEntry{{
		ID: s.newID(), OrderID: o.ID(), Type: domain.EventHeld, To: domain.StatusOnHold, Message: o.HoldReason(),
		Attributes: map[string]string{"reason": o.HoldReason(), "marketplace": req.Marketplace, "external_order_id": req.ExternalOrderID},
		CreatedAt:  o.CreatedAt(),
	}}, Events: withIDs(s.newID, events.CreatedNotice(o), events.HeldNotice(o))})
	if err != nil {
		return ImportResult{}, err
	}
	if !created {
		return s.duplicate(ctx, req)
	}
	s.cache.Prime(ctx, o)
	s.recent.Mark(ctx, o.UserID())
	s.log.InfoContext(ctx, "imported order held", "order_id", o.ID(), "store_id", req.StoreID,
		"external_order_id", req.ExternalOrderID, "reason", o.HoldReason())
	return ImportResult{Order: o, Outcome: ImportHeld}, nil
}

// importExisting is a repeated import: a duplicate, or the marketplace's
// cancellation of the order.
func (s *Service) importExisting(ctx context.Context, o *domain.Order, req ImportRequest) (ImportResult, error) {
	if !req.Cancelled || o.Status() == domain.StatusCancelled {
		return ImportResult{Order: o, Outcome: ImportDuplicate}, nil
	}
	reason := req.CancelReason
	if reason == "" {
		reason = "cancelled on " + req.Marketplace
	}
	outcome := ImportDuplicate
	o, err := s.update(ctx, o.ID(), UpdateOptions{}, func(o *domain.Order) (Change, error) {
		from := o.Status()
		switch {
		case from == domain.StatusCancelled:
			outcome = ImportDuplicate
			return Change{}, nil
		case !o.Cancellable():
			outcome = ImportIgnored
			return Change{Timeline: []domain.TimelineEntry{{
				ID: s.newID(), OrderID: o.ID(), Type: domain.EventMarketplaceCancelIgnored,
				Message:    fmt.Sprintf("%s cancelled the order while it was %s; it goes on", req.Marketplace, from),
				Attributes: map[string]string{"marketplace": req.Marketplace, "reason": reason, "status": from.String()},
				CreatedAt:  s.now(),
			}}}, nil
		}
		outcome = ImportCancelled
		if err := o.Cancel(reason, s.now()); err != nil {
			return Change{}, err
		}
		return s.cancelChange(o, from, domain.EventCancelledByMarketplace, reason,
			map[string]string{"marketplace": req.Marketplace}), nil
	})
	if err != nil {
		return ImportResult{}, err
	}
	if outcome == ImportCancelled {
		s.recent.Mark(ctx, o.UserID())
		s.log.InfoContext(ctx, "order cancelled by marketplace", "order_id", o.ID(), "store_id", req.StoreID)
	}
	return ImportResult{Order: o, Outcome: outcome}, nil
}

// cancelChange is what a cancellation writes: the timeline entry, and
// OrderCancelled (stock released, a paid order refunded) for an order that
// was placed; a held order has neither stock nor payment.
func (s *Service) cancelChange(o *domain.Order, from domain.Status, typ, reason string, attrs map[string]string) Change {
	c := Change{Timeline: []domain.TimelineEntry{transitionEntry(s.newID, o, from, typ, reason, attrs)}}
	if from == domain.StatusDraft {
		c.Events = draftCancelEvents(s.newID, o, reason)
		return c
	}
	if from == domain.StatusOnHold {
		c.Events = withIDs(s.newID, events.StatusChanged(o, from), events.StatusNotice(o, from))
		return c
	}
	c.Events = withIDs(s.newID,
		events.OrderCancelled(o, reason, o.PaymentID() != "", o.StockReserved()),
		events.StatusChanged(o, from), events.StatusNotice(o, from))
	return c
}

// resolveImport turns the marketplace's lines into items through the
// store's listings and checks the address. A reason says why the order
// must be held instead; err is a failure to ask (retry later).
func (s *Service) resolveImport(ctx context.Context, req ImportRequest) (CreateOrderInput, string, error) {
	in := CreateOrderInput{
		Address: req.Address, Currency: req.Currency, PaymentMethod: req.PaymentMethod,
		StoreID: req.StoreID, ExternalOrderID: req.ExternalOrderID,
	}
	if s.listings == nil {
		return in, "", errs.E(errs.Unavailable, "no listing resolver is configured")
	}
	for i, l := range req.Lines {
		lst, err := s.listings.ResolveListing(ctx, req.StoreID, l)
		if errs.Is(err, errs.NotFound) {
			return in, fmt.Sprintf("%s: no listing of this store maps it; map it under /v1/stores/%s/listings",
				describeLine(i, l), req.StoreID), nil
		}
		if err != nil {
			return in, "", err
		}
		in.Items = append(in.Items, RequestedItem{
			VariantID: lst.VariantID, DesignID: lst.DesignID, PlacementID: lst.PlacementID,
			ExternalItemID: l.ExternalItemID, Quantity: l.Quantity,
		})
	}
	if err := s.checkAddress(req.Address); err != nil {
		return in, errMessage(err), nil
	}
	if _, err := domain.NewAddress("shipping_address", req.Address); err != nil {
		return in, errMessage(err), nil
	}
	if err := checkInput(in); err != nil {
		return in, holdReason(err, req.Lines), nil
	}
	return in, "", nil
}

// unsupportedCurrency reports whether pricing refused currency (other than
// the default) as one it does not price in.
func unsupportedCurrency(err error, currency string) bool {
	return err != nil && currency != DefaultImportCurrency && errs.Is(err, errs.Invalid) &&
		strings.Contains(err.Error(), "unsupported currency")
}

// sellersToFix reports whether a refusal of the create is the seller's to
// fix (a listing's variant inactive or unknown, its design not ready or too
// small, an unknown store): the order is held with it, not retried.
func sellersToFix(err error) bool {
	switch errs.KindOf(err) {
	case errs.Invalid, errs.FailedPrecondition, errs.NotFound:
		return true
	}
	return false
}

var itemFieldRE = regexp.MustCompile(`^items\[(\d+)\]\.`)

// holdReason words a refusal for the seller, naming the marketplace line
// rather than our item index.
func holdReason(err error, lines []ImportLine) string {
	var e *errs.Error
	if errors.As(err, &e) && len(e.Violations) > 0 {
		v := e.Violations[0]
		if m := itemFieldRE.FindStringSubmatch(v.Field); m != nil {
			if i, _ := strconv.Atoi(m[1]); i < len(lines) {
				return fmt.Sprintf("%s: %s", describeLine(i, lines[i]), v.Description)
			}
		}
	}
	return errMessage(err)
}

// errMessage is the client-safe message of err.
func errMessage(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

// describeLine names a marketplace line as the seller knows it, e.g.
// line 2 ("Blue Mug 11oz", sku "MUG-11-BLUE").
func describeLine(i int, l ImportLine) string {
	var parts []string
	if l.Title != "" {
		parts = append(parts, strconv.Quote(l.Title))
	}
	if l.SKU != "" {
		parts = append(parts, "sku "+strconv.Quote(l.SKU))
	}
	if l.ExternalProductID != "" {
		parts = append(parts, "product "+strconv.Quote(l.ExternalProductID))
	}
	if l.ExternalVariantID != "" {
		parts = append(parts, "variant "+strconv.Quote(l.ExternalVariantID))
	}
	return fmt.Sprintf("line %d (%s)", i+1, strings.Join(parts, ", "))
}

// RetryImport places an ON_HOLD order of the caller (any for an admin) once
// its cause is fixed: the kept request is resolved afresh and, when every
// line maps, the order gets its items and totals, moves to PENDING and
// OrderPlaced goes out, in one transaction (a compare-and-set: two retries
// place it once). Otherwise the new reason is recorded and returned as
// FAILED_PRECONDITION; the order stays ON_HOLD.
func (s *Service) RetryImport(ctx context.Context, caller principal.Principal, id string) (*domain.Order, error) {
	owner, err := ownerScope(caller)
	if err != nil {
		return nil, err
	}
	if !domain.IsUUID(id) {
		return nil, errs.Field("order_id", "must be a UUID")
	}
	held, err := s.store.GetOrder(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	if held.Status() != domain.StatusOnHold {
		return nil, errs.E(errs.FailedPrecondition, "order is not on hold")
	}
	var kept keptRequest
	if err := json.Unmarshal(held.ImportRequest(), &kept); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "the held order's import request is unreadable")
	}
	req := ImportRequest{
		StoreID: held.StoreID(), OwnerID: held.UserID(), Marketplace: kept.Marketplace,
		ExternalOrderID: held.ExternalOrderID(), Lines: kept.Lines, Address: kept.Address,
		Currency: kept.Currency, PaymentMethod: kept.PaymentMethod,
	}
	in, reason, err := s.resolveImport(ctx, req)
	if err != nil {
		return nil, err
	}
	var placed *domain.Order
	if reason == "" {
		key := importKey(req.StoreID, req.ExternalOrderID)
		placed, err = s.prepare(ctx, held.ID(), held.UserID(), key, in)
		if unsupportedCurrency(err, in.Currency) {
			in.Currency = DefaultImportCurrency
			placed, err = s.prepare(ctx, held.ID(), held.UserID(), key, in)
		}
		switch {
		case err == nil:
		case sellersToFix(err):
			reason = holdReason(err, req.Lines)
		default:
			return nil, err
		}
	}
	if reason != "" {
		if _, err := s.update(ctx, id, UpdateOptions{OwnerID: owner}, func(o *domain.Order) (Change, error) {
			if err := o.Hold(reason, s.now()); err != nil {
				return Change{}, err
			}
			return Change{Timeline: []domain.TimelineEntry{{
				ID: s.newID(), OrderID: o.ID(), Type: domain.EventImportRetried, Message: "still held: " + o.HoldReason(),
				Attributes: map[string]string{"outcome": "held", "reason": o.HoldReason()}, CreatedAt: o.UpdatedAt(),
			}}}, nil
		}); err != nil {
			return nil, err
		}
		return nil, errs.E(errs.FailedPrecondition, "%s", clipReason(reason))
	}
	o, err := s.update(ctx, id, UpdateOptions{OwnerID: owner}, func(o *domain.Order) (Change, error) {
		from := o.Status()
		if err := o.PlaceFromHold(placed, s.now()); err != nil {
			return Change{}, err
		}
		return Change{
			Timeline: []domain.TimelineEntry{
				transitionEntry(s.newID, o, from, domain.EventImportRetried, "placed on retry",
					map[string]string{"outcome": "placed", "by": roleOf(caller)}),
				{ID: s.newID(), OrderID: o.ID(), Type: domain.EventPlaced, To: domain.StatusPending,
					Message: "order placed", CreatedAt: o.UpdatedAt()},
			},
			Events: withIDs(s.newID, events.OrderPlaced(o), events.StatusChanged(o, from)),
		}, nil
	})
	if err != nil {
		return nil, err
	}
	s.recent.Mark(ctx, o.UserID())
	s.log.InfoContext(ctx, "held order placed", "order_id", o.ID(), "store_id", o.StoreID())
	return o, nil
}

func clipReason(r string) string {
	if len(r) <= domain.MaxReasonLen {
		return r
	}
	return r[:domain.MaxReasonLen]
}
