package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
)

// DefaultDraftTTL is how long a draft lives unconfirmed by default.
const DefaultDraftTTL = 72 * time.Hour

var regionRE = regexp.MustCompile(`^[A-Z0-9]{1,3}$`)

// quoteRegion is the address's region as pricing's tax lookup names it:
// upper case, 1 to 3 letters or digits ("CA", "NSW"); anything else (a
// region spelled out, "California") is the country's rate.
func quoteRegion(region string) string {
	r := strings.ToUpper(strings.TrimSpace(region))
	if regionRE.MatchString(r) {
		return r
	}
	return ""
}

// pricingAttrs are the timeline attributes of what the order was priced
// with, added to extra.
func pricingAttrs(o *domain.Order, extra map[string]string) map[string]string {
	attrs := map[string]string{
		"total":        strconv.FormatInt(o.Total().Amount(), 10),
		"tax":          strconv.FormatInt(o.Tax().Amount(), 10),
		"tax_included": strconv.FormatBool(o.TaxIncluded()),
		"currency":     o.Currency(),
	}
	if m := o.ShippingMethod(); m != "" {
		attrs["shipping_method"] = m
	}
	if e := o.DeliveryEstimate(); !e.IsZero() {
		attrs["delivery_earliest"], attrs["delivery_latest"] = e.EarliestDate, e.LatestDate
	}
	for k, v := range extra {
		attrs[k] = v
	}
	return attrs
}

// draftInput is a draft as a create request: what pricing and the catalog
// see again when it is edited or confirmed.
func draftInput(o *domain.Order) CreateOrderInput {
	in := CreateOrderInput{
		Address: o.Address(), Currency: o.Currency(), CouponCode: o.CouponCode(), PaymentMethod: o.PaymentMethod(),
		StoreID: o.StoreID(), ExternalOrderID: o.ExternalOrderID(), ShippingMethod: o.ShippingMethod(),
	}
	for _, it := range o.Items() {
		f := it.Fields()
		in.Items = append(in.Items, RequestedItem{VariantID: f.VariantID, Quantity: f.Quantity, DesignID: f.DesignID,
			PlacementID: f.PlacementID, ExternalItemID: f.ExternalItemID})
	}
	return in
}

// UpdateOrderInput is an edit of a draft: nil (or empty, for Items;
// unspecified, for PaymentMethod) leaves a field as it is.
type UpdateOrderInput struct {
	Items          []RequestedItem
	Address        *domain.AddressFields
	ShippingMethod *string
	CouponCode     *string
	PaymentMethod  domain.PaymentMethod
	// Version, when not 0, must be the draft's version (CONFLICT
	// otherwise).
	Version int64
}

// apply returns in with the edit's fields and the names of those it changed.
func (u UpdateOrderInput) apply(in CreateOrderInput) (CreateOrderInput, []string) {
	var changed []string
	if len(u.Items) > 0 {
		in.Items = u.Items
		changed = append(changed, "items")
	}
	if u.Address != nil {
		in.Address = *u.Address
		changed = append(changed, "shipping_address")
	}
	if u.ShippingMethod != nil {
		in.ShippingMethod = *u.ShippingMethod
		changed = append(changed, "shipping_method")
	}
	if u.CouponCode != nil {
		in.CouponCode = *u.CouponCode
		changed = append(changed, "coupon_code")
	}
	if u.PaymentMethod != domain.PaymentMethodUnspecified {
		in.PaymentMethod = u.PaymentMethod
		changed = append(changed, "payment_method")
	}
	return in, changed
}

// errStale says the draft changed between its read and the transaction
// that would write what was priced from it.
var errStale = errors.New("draft changed since it was priced")

// maxDraftAttempts bounds the re-pricings of an edit or confirm that lost a
// race with another edit.
const maxDraftAttempts = 3

func draftScope(caller principal.Principal, id string) (string, error) {
	if err := caller.Require(principal.RoleUser, principal.RoleAdmin); err != nil {
		return "", err
	}
	owner, err := ownerScope(caller)
	if err != nil {
		return "", err
	}
	if !domain.IsUUID(id) {
		return "", errs.Field("order_id", "must be a UUID")
	}
	return owner, nil
}

// UpdateOrder edits a DRAFT order of the caller (any draft for an admin):
// the fields present replace the draft's, it is priced again (as a quote:
// no coupon use is taken) and its expiry starts over. Another status is
// FAILED_PRECONDITION; a version that is not the draft's is CONFLICT.
func (s *Service) UpdateOrder(ctx context.Context, caller principal.Principal, id string, u UpdateOrderInput) (*domain.Order, error) {
	owner, err := draftScope(caller, id)
	if err != nil {
		return nil, err
	}
	if u.Version < 0 {
		return nil, errs.Field("version", "must not be negative")
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.store.GetOrder(ctx, id, owner)
		if err != nil {
			return nil, err
		}
		if cur.Status() != domain.StatusDraft {
			return nil, errs.E(errs.FailedPrecondition, "cannot edit an order that is %s", cur.Status())
		}
		if u.Version != 0 && cur.Version() != u.Version {
			return nil, errs.E(errs.Conflict, "the order is at version %d, not %d; read it again", cur.Version(), u.Version)
		}
		in, changed := u.apply(draftInput(cur))
		in.Draft = true
		if err := checkInput(in); err != nil {
			return nil, err
		}
		edited, err := s.prepare(ctx, cur.ID(), cur.UserID(), "", in)
		if err != nil {
			return nil, err
		}
		o, err := s.update(ctx, id, UpdateOptions{OwnerID: owner}, func(o *domain.Order) (Change, error) {
			if o.Version() != cur.Version() {
				return Change{}, errStale
			}
			now := s.now()
			if err := o.UpdateDraft(edited, now.Add(s.DraftTTL), now); err != nil {
				return Change{}, err
			}
			attrs := pricingAttrs(o, map[string]string{
				"changed": strings.Join(changed, ","), "expires_at": o.ExpiresAt().Format(time.RFC3339),
			})
			return Change{Timeline: []domain.TimelineEntry{transitionEntry(s.newID, o, domain.StatusDraft,
				domain.EventDraftUpdated, "draft edited", attrs)}}, nil
		})
		switch {
		case errors.Is(err, errStale) && u.Version == 0 && attempt < maxDraftAttempts:
			continue
		case errors.Is(err, errStale):
			return nil, errs.E(errs.Conflict, "the draft was changed concurrently; read it again")
		case err != nil:
			return nil, err
		}
		s.recent.Mark(ctx, o.UserID())
		s.log.InfoContext(ctx, "draft edited", "order_id", o.ID(), "changed", changed)
		return o, nil
	}
}

// ConfirmOrder places a DRAFT order of the caller (any draft for an admin)
// exactly as a direct create would: priced again for placement (the coupon
// redeemed once per draft, whatever the retries), OrderPlaced in the same
// transaction, so stock and payment follow as for any order. When the price
// changed since the draft was priced, the draft takes the new prices and
// the confirm is FAILED_PRECONDITION (nothing is placed). Confirming an
// order that was confirmed already answers it as it is; an expired or
// cancelled draft is FAILED_PRECONDITION.
func (s *Service) ConfirmOrder(ctx context.Context, caller principal.Principal, id string) (*domain.Order, error) {
	owner, err := draftScope(caller, id)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.store.GetOrder(ctx, id, owner)
		if err != nil {
			return nil, err
		}
		if done, err := confirmedAlready(cur, s.now()); err != nil {
			return nil, err
		} else if done {
			return cur, nil
		}
		// One redemption key per draft: every confirm of it (a retry, a
		// concurrent one) asks pricing for the same coupon use.
		placed, err := s.prepare(ctx, cur.ID(), cur.UserID(), "draft:"+cur.ID(), draftInput(cur))
		if err != nil {
			return nil, err
		}
		var (
			repriced bool
			previous = cur.Total()
		)
		o, err := s.update(ctx, id, UpdateOptions{OwnerID: owner}, func(o *domain.Order) (Change, error) {
			if o.Status() != domain.StatusDraft {
				// A concurrent confirm placed it (or it was cancelled):
				// nothing to write; the answer is decided below.
				return Change{}, nil
			}
			if o.Version() != cur.Version() {
				return Change{}, errStale
			}
			now := s.now()
			if placed.Total() != o.Total() {
				repriced = true
				if err := o.Reprice(placed, now); err != nil {
					return Change{}, err
				}
				attrs := pricingAttrs(o, map[string]string{"changed": "price", "previous_total": strconv.FormatInt(previous.Amount(), 10)})
				return Change{Timeline: []domain.TimelineEntry{transitionEntry(s.newID, o, domain.StatusDraft,
					domain.EventDraftUpdated, "price changed at confirmation", attrs)}}, nil
			}
			if err := o.PlaceDraft(placed, now); err != nil {
				return Change{}, err
			}
			return Change{
				Timeline: []domain.TimelineEntry{transitionEntry(s.newID, o, domain.StatusDraft, domain.EventPlaced,
					"order placed", pricingAttrs(o, map[string]string{"from_draft": "true", "by": roleOf(caller)}))},
				Events: withIDs(s.newID, events.OrderPlaced(o), events.StatusChanged(o, domain.StatusDraft), events.PlacedDraftNotice(o)),
			}, nil
		})
		switch {
		case errors.Is(err, errStale) && attempt < maxDraftAttempts:
			continue
		case errors.Is(err, errStale):
			return nil, errs.E(errs.Conflict, "the draft is being edited; retry")
		case err != nil:
			return nil, err
		case repriced:
			s.recent.Mark(ctx, o.UserID())
			return nil, errs.E(errs.FailedPrecondition, "the price changed from %s to %s; review and confirm again",
				formatMoney(previous), formatMoney(o.Total()))
		}
		if _, err := confirmedAlready(o, s.now()); err != nil {
			return nil, err // cancelled or expired meanwhile
		}
		s.recent.Mark(ctx, o.UserID())
		s.log.InfoContext(ctx, "draft confirmed", "order_id", o.ID())
		return o, nil
	}
}

// confirmedAlready says what a confirm of o answers without placing it:
// done for an order no longer a draft (it was confirmed: answer it as it
// is), an error for a cancelled or expired draft.
func confirmedAlready(o *domain.Order, now time.Time) (bool, error) {
	switch {
	case o.Status() == domain.StatusCancelled && o.Fields().FailureReason == domain.DraftExpiredReason:
		return false, errs.E(errs.FailedPrecondition, "the draft expired; create the order again")
	case o.Status() == domain.StatusCancelled:
		return false, errs.E(errs.FailedPrecondition, "cannot confirm an order that is CANCELLED")
	case o.Status() == domain.StatusDraft && o.Expired(now):
		return false, errs.E(errs.FailedPrecondition, "the draft expired; create the order again")
	case o.Status() == domain.StatusDraft:
		return false, nil
	}
	return true, nil
}

// formatMoney shows an amount in minor units with its currency, e.g.
// "12.34 USD" (two decimals, as every currency the fleet prices in has).
func formatMoney(m domain.Money) string {
	a := m.Amount()
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.Currency())
}

// DraftStore finds the drafts past their expiry.
type DraftStore interface {
	// DueDrafts returns up to limit drafts whose expiry is at or before
	// now, oldest expiry first, passing over drafts a transaction holds.
	DueDrafts(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// DraftExpirer is the worker's periodic job that cancels drafts past their
// expiry. Every worker replica may run it: the due drafts are read with
// SKIP LOCKED, and each expiry is the domain's transition under the
// store's row lock and compare-and-set, so a draft confirmed or expired
// meanwhile is left as it is.
type DraftExpirer struct {
	drafts DraftStore
	w      *Worker
	every  time.Duration
	batch  int
}

// NewDraftExpirer wires the job: a pass every every, batch drafts at a time.
func NewDraftExpirer(drafts DraftStore, w *Worker, every time.Duration, batch int) *DraftExpirer {
	if batch <= 0 {
		batch = 100
	}
	if every <= 0 {
		every = time.Minute
	}
	return &DraftExpirer{drafts: drafts, w: w, every: every, batch: batch}
}

// Run makes a pass every e.every until ctx ends.
func (e *DraftExpirer) Run(ctx context.Context) error {
	t := time.NewTicker(e.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if n, err := e.Pass(ctx); err != nil {
			e.w.log.WarnContext(ctx, "draft expiry", "err", err, "expired", n)
		} else if n > 0 {
			e.w.log.InfoContext(ctx, "draft expiry", "expired", n)
		}
	}
}

// maxExpiryBatches bounds one pass; what is left waits for the next.
const maxExpiryBatches = 50

// Pass expires the drafts due now, batch by batch, and reports how many it
// cancelled.
func (e *DraftExpirer) Pass(ctx context.Context) (int, error) {
	total := 0
	for range maxExpiryBatches {
		now := e.w.now()
		ids, err := e.drafts.DueDrafts(ctx, now, e.batch)
		if err != nil {
			return total, err
		}
		for _, id := range ids {
			moved, err := e.expire(ctx, id, now)
			if err != nil {
				return total, fmt.Errorf("expire draft %s: %w", id, err)
			}
			if moved {
				total++
			}
		}
		if len(ids) < e.batch {
			return total, nil
		}
	}
	return total, nil
}

func (e *DraftExpirer) expire(ctx context.Context, id string, now time.Time) (bool, error) {
	moved := false
	_, err := updateAndInvalidate(ctx, e.w.store, e.w.cache, id, UpdateOptions{}, func(o *domain.Order) (Change, error) {
		if !o.Expired(now) {
			return Change{}, nil // confirmed, edited or cancelled meanwhile
		}
		expiresAt := o.ExpiresAt()
		if err := o.Expire(now); err != nil {
			return Change{}, err
		}
		moved = true
		return Change{
			Timeline: []domain.TimelineEntry{transitionEntry(e.w.newID, o, domain.StatusDraft, domain.EventDraftExpired,
				"draft expired unconfirmed", map[string]string{"expires_at": expiresAt.Format(time.RFC3339)})},
			Events: draftCancelEvents(e.w.newID, o, domain.DraftExpiredReason),
		}, nil
	})
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return moved, err
}

// draftCancelEvents are the events of a draft's cancellation: OrderCancelled
// alone, which gives back the coupon use a confirm that found the price
// changed may have reserved (a draft holds no stock and no payment). No
// notice: subscribers never heard of the draft.
func draftCancelEvents(newID IDs, o *domain.Order, reason string) []outboxEvent {
	return withIDs(newID, events.OrderCancelled(o, reason, false, false))
}
