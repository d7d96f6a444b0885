package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/errs"
	pg "github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

const couponColumns = `id, code, kind, percent_bp, amount_off_currency, amount_off_minor,
	min_subtotal_currency, min_subtotal_minor, valid_from, valid_until, usage_limit, per_customer_limit, used`

func scanCoupon(row pgx.Row) (domain.Coupon, error) {
	var (
		c                     domain.Coupon
		kind                  string
		offCur, minCur        *string
		offAmount, minAmount  *int64
		validFrom, validUntil time.Time
	)
	if err := row.Scan(&c.ID, &c.Code, &kind, &c.PercentBP, &offCur, &offAmount, &minCur, &minAmount,
		&validFrom, &validUntil, &c.UsageLimit, &c.PerCustomerLimit, &c.Used); err != nil {
		return c, err
	}
	var ok bool
	if c.Kind, ok = domain.ParseCouponKind(kind); !ok {
		return c, fmt.Errorf("coupon %s: unknown kind %q", c.ID, kind)
	}
	c.ValidFrom, c.ValidUntil = validFrom.UTC(), validUntil.UTC()
	if offCur != nil && offAmount != nil {
		p, err := storedPrice(*offCur, *offAmount)
		if err != nil {
			return c, fmt.Errorf("coupon %s amount off: %w", c.ID, err)
		}
		c.AmountOff = p
	}
	if minCur != nil && minAmount != nil {
		p, err := storedPrice(*minCur, *minAmount)
		if err != nil {
			return c, fmt.Errorf("coupon %s minimum: %w", c.ID, err)
		}
		c.MinSubtotal = &p
	}
	return c, nil
}

func couponsByCode(ctx context.Context, q pg.Querier, code string) ([]domain.Coupon, error) {
	rows, err := q.Query(ctx, `SELECT `+couponColumns+` FROM coupons WHERE code = $1 ORDER BY valid_from`, code)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Coupon, error) { return scanCoupon(r) })
}

// lockCode serialises writers of one coupon code for the transaction.
func lockCode(ctx context.Context, tx pgx.Tx, code string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('pricing.coupon:' || $1, 0))`, code)
	return err
}

// CreateCoupon stores c (a new id is assigned) unless its window overlaps
// another coupon with the same code (INVALID_ARGUMENT naming
// coupon.valid_from). With ensure, an existing coupon with the same terms is
// returned instead and nothing is written (idempotent seeding).
func (s *Store) CreateCoupon(ctx context.Context, c domain.Coupon, ensure bool) (domain.Coupon, app.WriteResult, error) {
	var out domain.Coupon
	res, err := s.write(ctx, "create coupon", func(tx pgx.Tx) (int64, error) {
		if err := lockCode(ctx, tx, c.Code); err != nil {
			return 0, err
		}
		existing, err := couponsByCode(ctx, tx, c.Code)
		if err != nil {
			return 0, err
		}
		if ensure {
			for _, e := range existing {
				if e.SameTerms(c) {
					out = e
					return 0, nil
				}
			}
		}
		if err := domain.CheckCouponOverlap(c, existing); err != nil {
			return 0, err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return 0, err
		}
		c.ID, c.Used = id, 0
		var offCur, minCur *string
		var offAmount, minAmount *int64
		if c.Kind == domain.CouponFixed {
			offCur, offAmount = &c.AmountOff.Currency.Code, &c.AmountOff.Amount
		}
		if c.MinSubtotal != nil {
			minCur, minAmount = &c.MinSubtotal.Currency.Code, &c.MinSubtotal.Amount
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO coupons (id, code, kind, percent_bp, amount_off_currency, amount_off_minor,
				min_subtotal_currency, min_subtotal_minor, valid_from, valid_until, usage_limit, per_customer_limit)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			c.ID, c.Code, c.Kind.String(), c.PercentBP, offCur, offAmount, minCur, minAmount,
			c.ValidFrom, c.ValidUntil, c.UsageLimit, c.PerCustomerLimit)
		if err != nil {
			return 0, err
		}
		out = c
		return 1, nil
	})
	return out, res, err
}

// ListCoupons returns every coupon, by code then window.
func (s *Store) ListCoupons(ctx context.Context) ([]domain.Coupon, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+couponColumns+` FROM coupons ORDER BY code, valid_from`)
	if err != nil {
		return nil, fmt.Errorf("list coupons: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Coupon, error) { return scanCoupon(r) })
	if err != nil {
		return nil, fmt.Errorf("list coupons: %w", err)
	}
	return cs, nil
}

// CouponsByCode returns the coupons with code (upper case), by window.
func (s *Store) CouponsByCode(ctx context.Context, code string) ([]domain.Coupon, error) {
	cs, err := couponsByCode(ctx, s.pool, code)
	if err != nil {
		return nil, fmt.Errorf("coupons %s: %w", code, err)
	}
	return cs, nil
}

// DeactivateCoupon ends, at now, every coupon with code whose window has not
// ended; one whose window had not begun gets an empty window ending now.
// Uses already counted stay.
func (s *Store) DeactivateCoupon(ctx context.Context, code string, now time.Time) (app.WriteResult, error) {
	return s.write(ctx, "deactivate coupon", func(tx pgx.Tx) (int64, error) {
		if err := lockCode(ctx, tx, code); err != nil {
			return 0, err
		}
		tag, err := tx.Exec(ctx, `
			UPDATE coupons SET valid_until = $2, valid_from = least(valid_from, $2 - interval '1 microsecond')
			WHERE code = $1 AND valid_until > $2`, code, now)
		return tag.RowsAffected(), err
	})
}

// RedeemCoupon reserves one use of the coupon with code valid at now for
// the placement r.OrderKey by r.CustomerID, atomically against the usage
// limit and the per-customer limit (CONFLICT naming the coupon when either
// is reached; nothing is written). The reservation is pending until
// ConfirmCoupon, and expires at r.ExpiresAt otherwise.
//
// Redeeming again under the same key (a retry of the create) takes no second
// use: it records r.OrderID as one more order the placement may commit as
// and returns the coupon. The write bumps the price-data version only when
// the coupon becomes used up, so quotes refuse it without reloading the
// snapshot on every order.
func (s *Store) RedeemCoupon(ctx context.Context, r domain.Redemption, now time.Time) (domain.Coupon, app.WriteResult, error) {
	var out domain.Coupon
	res, err := s.write(ctx, "redeem coupon", func(tx pgx.Tx) (int64, error) {
		if err := lockCode(ctx, tx, r.Code); err != nil {
			return 0, err
		}
		var (
			priorID    uuid.UUID
			priorState string
		)
		err := tx.QueryRow(ctx, `SELECT coupon_id, state FROM coupon_reservations WHERE order_key = $1`, r.OrderKey).Scan(&priorID, &priorState)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return 0, err
		case priorState == "pending" || priorState == "confirmed":
			if out, err = scanCoupon(tx.QueryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE id = $1`, priorID)); err != nil {
				return 0, err
			}
			if out.Code != r.Code {
				return 0, errs.E(errs.Invalid, "order %s already redeemed coupon %q", r.OrderKey, out.Code)
			}
			return 0, addReservationOrder(ctx, tx, r)
		}
		cs, err := couponsByCode(ctx, tx, r.Code)
		if err != nil {
			return 0, err
		}
		c, err := domain.ActiveCoupon(r.Code, cs, now)
		if err != nil {
			return 0, err
		}
		if _, err := expire(ctx, tx, c.ID, now); err != nil {
			return 0, err
		}
		if c.PerCustomerLimit > 0 {
			var n int32
			if err := tx.QueryRow(ctx, `
				SELECT count(*) FROM coupon_reservations
				WHERE coupon_id = $1 AND customer_id = $2 AND state IN ('pending', 'confirmed')`,
				c.ID, r.CustomerID).Scan(&n); err != nil {
				return 0, err
			}
			if n >= c.PerCustomerLimit {
				return 0, domain.CustomerLimitError(c)
			}
		}
		err = tx.QueryRow(ctx, `
			UPDATE coupons SET used = used + 1
			WHERE id = $1 AND (usage_limit = 0 OR used < usage_limit)
			RETURNING used`, c.ID).Scan(&c.Used)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, domain.LimitReachedError(c)
		}
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO coupon_reservations (order_key, coupon_id, customer_id, state, expires_at)
			VALUES ($1, $2, $3, 'pending', $4)
			ON CONFLICT (order_key) DO UPDATE SET coupon_id = $2, customer_id = $3, state = 'pending',
				expires_at = $4, created_at = now(), confirmed_order_id = NULL`,
			r.OrderKey, c.ID, r.CustomerID, r.ExpiresAt); err != nil {
			return 0, err
		}
		if err := addReservationOrder(ctx, tx, r); err != nil {
			return 0, err
		}
		out = c
		if c.UsedUp() {
			return 1, nil
		}
		return 0, nil
	})
	return out, res, err
}

func addReservationOrder(ctx context.Context, tx pgx.Tx, r domain.Redemption) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO coupon_reservation_orders (order_id, order_key) VALUES ($1, $2)
		ON CONFLICT (order_id) DO NOTHING`, r.OrderID, r.OrderKey)
	return err
}

// ConfirmCoupon confirms the reservation of the placed order orderID, so it
// no longer expires. An order without one (its reservation expired before
// the event arrived, or it was placed before reservations existed), and a
// second order committed under a key whose use another order already
// confirmed (the key was reused after the orders service stopped replaying
// it), have the use counted now, past the limit if need be: the order
// stands with its discount, and the counter says so (late reports true). An
// order whose reservation was released (it was cancelled before this event
// arrived) changes nothing; nor does confirming twice.
func (s *Store) ConfirmCoupon(ctx context.Context, code, orderID, customerID string, placedAt time.Time) (late bool, res app.WriteResult, err error) {
	res, err = s.write(ctx, "confirm coupon", func(tx pgx.Tx) (int64, error) {
		if err := lockCode(ctx, tx, code); err != nil {
			return 0, err
		}
		var state, key, confirmedBy string
		err := tx.QueryRow(ctx, `
			SELECT r.state, r.order_key, coalesce(r.confirmed_order_id, '')
			FROM coupon_reservation_orders o JOIN coupon_reservations r USING (order_key)
			WHERE o.order_id = $1`, orderID).Scan(&state, &key, &confirmedBy)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			key = "order-" + orderID
		case err != nil:
			return 0, err
		case state == "pending":
			_, err := tx.Exec(ctx, `
				UPDATE coupon_reservations SET state = 'confirmed', confirmed_order_id = $2
				WHERE order_key = $1`, key, orderID)
			return 0, err
		case state == "confirmed" && confirmedBy != "" && confirmedBy != orderID:
			key = "order-" + orderID
		case state != "expired":
			return 0, nil
		}
		cs, err := couponsByCode(ctx, tx, code)
		if err != nil {
			return 0, err
		}
		c, err := domain.ActiveCoupon(code, cs, placedAt)
		if err != nil {
			return 0, err
		}
		if err := tx.QueryRow(ctx, `UPDATE coupons SET used = used + 1 WHERE id = $1 RETURNING used`, c.ID).Scan(&c.Used); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO coupon_reservations (order_key, coupon_id, customer_id, state, expires_at, confirmed_order_id)
			VALUES ($1, $2, $3, 'confirmed', $4, $5)
			ON CONFLICT (order_key) DO UPDATE SET state = 'confirmed', confirmed_order_id = $5`,
			key, c.ID, customerID, placedAt, orderID); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO coupon_reservation_orders (order_id, order_key) VALUES ($1, $2)
			ON CONFLICT (order_id) DO UPDATE SET order_key = $2`, orderID, key); err != nil {
			return 0, err
		}
		late = true
		if c.UsedUp() {
			return 1, nil
		}
		return 0, nil
	})
	return late, res, err
}

// ReleaseCoupon gives back the use reserved by the order orderID (cancelled,
// rejected, or its payment failed). An order without a reservation, or one
// already released, changes nothing.
func (s *Store) ReleaseCoupon(ctx context.Context, orderID string) (released bool, res app.WriteResult, err error) {
	var code string
	err = s.pool.QueryRow(ctx, `
		SELECT c.code FROM coupon_reservation_orders o
		JOIN coupon_reservations r USING (order_key) JOIN coupons c ON c.id = r.coupon_id
		WHERE o.order_id = $1`, orderID).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, app.WriteResult{}, nil
	}
	if err != nil {
		return false, app.WriteResult{}, fmt.Errorf("release coupon: %w", err)
	}
	res, err = s.write(ctx, "release coupon", func(tx pgx.Tx) (int64, error) {
		if err := lockCode(ctx, tx, code); err != nil {
			return 0, err
		}
		var couponID uuid.UUID
		err := tx.QueryRow(ctx, `
			UPDATE coupon_reservations SET state = 'released'
			WHERE order_key = (SELECT order_key FROM coupon_reservation_orders WHERE order_id = $1)
				AND state IN ('pending', 'confirmed')
			RETURNING coupon_id`, orderID).Scan(&couponID)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		released = true
		return giveBack(ctx, tx, couponID, 1)
	})
	return released, res, err
}

// giveBack returns n uses to the coupon; it reports 1 (a change quotes must
// see) when the coupon was used up before.
func giveBack(ctx context.Context, tx pgx.Tx, couponID uuid.UUID, n int64) (int64, error) {
	var used, limit int64
	if err := tx.QueryRow(ctx, `
		UPDATE coupons SET used = used - $2 WHERE id = $1 RETURNING used, usage_limit`, couponID, n).Scan(&used, &limit); err != nil {
		return 0, err
	}
	if limit > 0 && used+n >= limit {
		return 1, nil
	}
	return 0, nil
}

// expire marks the coupon's pending reservations past their expiry expired
// and gives their uses back.
func expire(ctx context.Context, tx pgx.Tx, couponID uuid.UUID, now time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `
		UPDATE coupon_reservations SET state = 'expired'
		WHERE coupon_id = $1 AND state = 'pending' AND expires_at <= $2`, couponID, now)
	if err != nil || tag.RowsAffected() == 0 {
		return 0, err
	}
	return giveBack(ctx, tx, couponID, tag.RowsAffected())
}

// ExpireReservations expires every pending reservation past its expiry
// (an order create that reserved a use and never committed) and gives the
// uses back; it returns how many expired.
func (s *Store) ExpireReservations(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT c.id, c.code FROM coupon_reservations r JOIN coupons c ON c.id = r.coupon_id
		WHERE r.state = 'pending' AND r.expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("expire reservations: %w", err)
	}
	type coupon struct {
		id   uuid.UUID
		code string
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (coupon, error) {
		var c coupon
		return c, r.Scan(&c.id, &c.code)
	})
	if err != nil {
		return 0, fmt.Errorf("expire reservations: %w", err)
	}
	total := 0
	for _, c := range due {
		_, err := s.write(ctx, "expire reservations", func(tx pgx.Tx) (int64, error) {
			if err := lockCode(ctx, tx, c.code); err != nil {
				return 0, err
			}
			var n int64
			err := tx.QueryRow(ctx, `SELECT count(*) FROM coupon_reservations
				WHERE coupon_id = $1 AND state = 'pending' AND expires_at <= $2`, c.id, now).Scan(&n)
			if err != nil {
				return 0, err
			}
			total += int(n)
			return expire(ctx, tx, c.id, now)
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func loadCoupons(ctx context.Context, tx pgx.Tx) ([]domain.Coupon, error) {
	rows, _ := tx.Query(ctx, `SELECT `+couponColumns+` FROM coupons`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Coupon, error) { return scanCoupon(r) })
}
