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
	min_subtotal_currency, min_subtotal_minor, valid_from, valid_until, usage_limit, used`

func scanCoupon(row pgx.Row) (domain.Coupon, error) {
	var (
		c                     domain.Coupon
		kind                  string
		offCur, minCur        *string
		offAmount, minAmount  *int64
		validFrom, validUntil time.Time
	)
	if err := row.Scan(&c.ID, &c.Code, &kind, &c.PercentBP, &offCur, &offAmount, &minCur, &minAmount,
		&validFrom, &validUntil, &c.UsageLimit, &c.Used); err != nil {
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
				min_subtotal_currency, min_subtotal_minor, valid_from, valid_until, usage_limit)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			c.ID, c.Code, c.Kind.String(), c.PercentBP, offCur, offAmount, minCur, minAmount,
			c.ValidFrom, c.ValidUntil, c.UsageLimit)
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

// RedeemCoupon records that orderID used the coupon with code valid at now
// and counts it against the usage limit, atomically: a redemption past the
// limit is FAILED_PRECONDITION and changes nothing. Redeeming again for the
// same order (a redelivered event) changes nothing and succeeds.
func (s *Store) RedeemCoupon(ctx context.Context, code, orderID string, now time.Time) (domain.Coupon, app.WriteResult, error) {
	var out domain.Coupon
	res, err := s.write(ctx, "redeem coupon", func(tx pgx.Tx) (int64, error) {
		if err := lockCode(ctx, tx, code); err != nil {
			return 0, err
		}
		var prior uuid.UUID
		err := tx.QueryRow(ctx, `SELECT coupon_id FROM coupon_redemptions WHERE order_id = $1`, orderID).Scan(&prior)
		switch {
		case err == nil:
			out, err = scanCoupon(tx.QueryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE id = $1`, prior))
			if err == nil && out.Code != code {
				return 0, errs.E(errs.FailedPrecondition, "order %s already redeemed coupon %q", orderID, out.Code)
			}
			return 0, err
		case !errors.Is(err, pgx.ErrNoRows):
			return 0, err
		}
		cs, err := couponsByCode(ctx, tx, code)
		if err != nil {
			return 0, err
		}
		c, err := domain.ActiveCoupon(code, cs, now)
		if err != nil {
			return 0, err
		}
		err = tx.QueryRow(ctx, `
			UPDATE coupons SET used = used + 1
			WHERE id = $1 AND (usage_limit = 0 OR used < usage_limit)
			RETURNING used`, c.ID).Scan(&c.Used)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, domain.UsedUpError(c)
		}
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO coupon_redemptions (order_id, coupon_id) VALUES ($1, $2)`, orderID, c.ID); err != nil {
			return 0, err
		}
		out = c
		return 1, nil
	})
	return out, res, err
}

func loadCoupons(ctx context.Context, tx pgx.Tx) ([]domain.Coupon, error) {
	rows, _ := tx.Query(ctx, `SELECT `+couponColumns+` FROM coupons`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Coupon, error) { return scanCoupon(r) })
}
