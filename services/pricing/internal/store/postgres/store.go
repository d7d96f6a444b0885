// Package postgres is pricing's PostgreSQL store: the price-data tables, the
// price_data_version counter that every write bumps (and announces with
// NOTIFY on channel pricing_price_data), and a consistent load of the whole
// data set for the in-memory snapshot.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	pg "github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the store's schema migrations, for postgres.Open and pgtest.
var Migrations = mustSub(migrationFiles, "migrations")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// Channel is the NOTIFY channel a write announces the new version on.
const Channel = "pricing_price_data"

// Store reads and writes price data.
type Store struct{ pool *pgxpool.Pool }

var _ app.Store = (*Store)(nil)

// New returns a store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// bump advances price_data_version and notifies listeners (delivered at
// commit, so a listener never sees a version before its data).
func bump(ctx context.Context, tx pgx.Tx) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `
		WITH v AS (
			UPDATE price_data_version SET version = version + 1, changed_at = now()
			RETURNING version
		)
		SELECT v.version FROM v CROSS JOIN LATERAL (SELECT pg_notify($1, v.version::text)) AS n`, Channel).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump price data version: %w", err)
	}
	return v, nil
}

// write runs fn in a transaction and bumps the version when fn changed rows.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) (int64, error)) (app.WriteResult, error) {
	var res app.WriteResult
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := fn(tx)
		if err != nil {
			return err
		}
		res.Changed = int(n)
		if n > 0 {
			res.Version, err = bump(ctx, tx)
		}
		return err
	})
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return app.WriteResult{}, err
		}
		return app.WriteResult{}, fmt.Errorf("%s: %w", op, err)
	}
	return res, nil
}

// UpsertVariantPrices inserts or updates prices; unchanged rows are not
// rewritten and not counted.
func (s *Store) UpsertVariantPrices(ctx context.Context, ps []domain.VariantPrice) (app.WriteResult, error) {
	ids, regions, curs, amounts := make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]int64, len(ps))
	for i, p := range ps {
		ids[i], regions[i], curs[i], amounts[i] = p.VariantID.String(), p.Region, p.Price.Currency.Code, p.Price.Amount
	}
	return s.write(ctx, "upsert variant prices", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO variant_prices (variant_id, region, currency, amount_minor)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[])
			ON CONFLICT (variant_id, region, currency) DO UPDATE
				SET amount_minor = EXCLUDED.amount_minor, updated_at = now()
				WHERE variant_prices.amount_minor <> EXCLUDED.amount_minor`,
			ids, regions, curs, amounts)
		return tag.RowsAffected(), err
	})
}

// UpsertSurcharges inserts or updates placement surcharges.
func (s *Store) UpsertSurcharges(ctx context.Context, xs []domain.Surcharge) (app.WriteResult, error) {
	techs, curs, amounts := make([]string, len(xs)), make([]string, len(xs)), make([]int64, len(xs))
	for i, x := range xs {
		techs[i], curs[i], amounts[i] = x.Technique, x.Price.Currency.Code, x.Price.Amount
	}
	return s.write(ctx, "upsert surcharges", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO placement_surcharges (technique, currency, amount_minor)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
			ON CONFLICT (technique, currency) DO UPDATE
				SET amount_minor = EXCLUDED.amount_minor, updated_at = now()
				WHERE placement_surcharges.amount_minor <> EXCLUDED.amount_minor`,
			techs, curs, amounts)
		return tag.RowsAffected(), err
	})
}

// UpsertShippingRates inserts or updates shipping rates.
func (s *Store) UpsertShippingRates(ctx context.Context, rs []domain.ShippingRate) (app.WriteResult, error) {
	n := len(rs)
	methods, countries, curs, firsts, adds := make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
	for i, r := range rs {
		methods[i], countries[i], curs[i], firsts[i], adds[i] = r.Method, r.Country, r.Currency.Code, r.FirstItem, r.AdditionalItem
	}
	return s.write(ctx, "upsert shipping rates", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO shipping_rates (method, country_code, currency, first_item_minor, additional_item_minor)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
			ON CONFLICT (method, country_code, currency) DO UPDATE
				SET first_item_minor = EXCLUDED.first_item_minor,
				    additional_item_minor = EXCLUDED.additional_item_minor, updated_at = now()
				WHERE (shipping_rates.first_item_minor, shipping_rates.additional_item_minor)
				   <> (EXCLUDED.first_item_minor, EXCLUDED.additional_item_minor)`,
			methods, countries, curs, firsts, adds)
		return tag.RowsAffected(), err
	})
}

// UpsertFxRates inserts or updates FX rates, stored as exact numerics.
func (s *Store) UpsertFxRates(ctx context.Context, rs []domain.FxRate) (app.WriteResult, error) {
	bases, quotes, rates := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		bases[i], quotes[i], rates[i] = r.Base.Code, r.Quote.Code, domain.FormatRate(r.Rate)
	}
	return s.write(ctx, "upsert fx rates", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO fx_rates (base, quote, rate)
			SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
			ON CONFLICT (base, quote) DO UPDATE
				SET rate = EXCLUDED.rate, updated_at = now()
				WHERE fx_rates.rate <> EXCLUDED.rate`,
			bases, quotes, rates)
		return tag.RowsAffected(), err
	})
}

// UpsertPlacementTechniques records how placements are printed.
func (s *Store) UpsertPlacementTechniques(ctx context.Context, ps []domain.PlacementTechnique) (app.WriteResult, error) {
	ids, techs := make([]string, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		ids[i], techs[i] = p.PlacementID.String(), p.Technique
	}
	return s.write(ctx, "upsert placement techniques", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO placement_techniques (placement_id, technique)
			SELECT * FROM unnest($1::uuid[], $2::text[])
			ON CONFLICT (placement_id) DO UPDATE
				SET technique = EXCLUDED.technique, updated_at = now()
				WHERE placement_techniques.technique <> EXCLUDED.technique`,
			ids, techs)
		return tag.RowsAffected(), err
	})
}

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

func storedPrice(code string, amount int64) (domain.Price, error) {
	c, ok := domain.LookupCurrency(code)
	if !ok {
		return domain.Price{}, fmt.Errorf("stored currency %q is not supported", code)
	}
	return domain.Price{Currency: c, Amount: amount}, nil
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

// Version is the current price-data version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM price_data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read price data version: %w", err)
	}
	return v, nil
}

// Load reads the whole data set and its version in one read-only
// repeatable-read transaction, so the snapshot is consistent.
func (s *Store) Load(ctx context.Context) (domain.Data, error) {
	var d domain.Data
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return load(ctx, tx, &d)
	})
	if err != nil {
		return domain.Data{}, fmt.Errorf("load price data: %w", err)
	}
	return d, nil
}

func load(ctx context.Context, tx pgx.Tx, d *domain.Data) error {
	if err := tx.QueryRow(ctx, `SELECT version FROM price_data_version`).Scan(&d.Version); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	var err error
	rows, _ := tx.Query(ctx, `SELECT variant_id, region, currency, amount_minor FROM variant_prices`)
	d.Prices, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.VariantPrice, error) {
		var (
			p    domain.VariantPrice
			code string
			amt  int64
		)
		if err := r.Scan(&p.VariantID, &p.Region, &code, &amt); err != nil {
			return p, err
		}
		p.Price, err = storedPrice(code, amt)
		return p, err
	})
	if err != nil {
		return fmt.Errorf("variant prices: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT technique, currency, amount_minor FROM placement_surcharges`)
	d.Surcharges, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Surcharge, error) {
		var (
			x    domain.Surcharge
			code string
			amt  int64
		)
		if err := r.Scan(&x.Technique, &code, &amt); err != nil {
			return x, err
		}
		x.Price, err = storedPrice(code, amt)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("surcharges: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT method, country_code, currency, first_item_minor, additional_item_minor FROM shipping_rates`)
	d.Shipping, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.ShippingRate, error) {
		var (
			x    domain.ShippingRate
			code string
		)
		if err := r.Scan(&x.Method, &x.Country, &code, &x.FirstItem, &x.AdditionalItem); err != nil {
			return x, err
		}
		p, err := storedPrice(code, 0)
		x.Currency = p.Currency
		return x, err
	})
	if err != nil {
		return fmt.Errorf("shipping rates: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT `+couponColumns+` FROM coupons`)
	d.Coupons, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Coupon, error) { return scanCoupon(r) })
	if err != nil {
		return fmt.Errorf("coupons: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT base, quote, rate::text FROM fx_rates`)
	d.Fx, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.FxRate, error) {
		var (
			x                 domain.FxRate
			base, quote, rate string
		)
		if err := r.Scan(&base, &quote, &rate); err != nil {
			return x, err
		}
		b, okB := domain.LookupCurrency(base)
		q, okQ := domain.LookupCurrency(quote)
		if !okB || !okQ {
			return x, fmt.Errorf("stored rate %s/%s names an unsupported currency", base, quote)
		}
		x.Base, x.Quote = b, q
		x.Rate, err = domain.ParseRate(rate)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("fx rates: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT placement_id, technique FROM placement_techniques`)
	d.Placements, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.PlacementTechnique, error) {
		var p domain.PlacementTechnique
		err := r.Scan(&p.PlacementID, &p.Technique)
		return p, err
	})
	if err != nil {
		return fmt.Errorf("placement techniques: %w", err)
	}
	return nil
}

// Listen holds a dedicated connection that LISTENs on Channel and calls
// onChange with each announced version until ctx ends or the connection
// fails (the caller reconnects). onListening is called once LISTEN is in
// effect, so the caller can catch up on anything it missed before.
func (s *Store) Listen(ctx context.Context, onListening func(), onChange func(version int64)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen: acquire: %w", err)
	}
	// The connection leaves the pool: a LISTENing session must not serve
	// other queries.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	onListening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen: wait: %w", err)
		}
		v, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			continue // not ours; a poll will catch up
		}
		onChange(v)
	}
}
