// Package postgres is the orders store on PostgreSQL: orders, items,
// shipments, the timeline, idempotency keys, and (through platform/outbox and
// platform/inbox) the outbox and inbox, with the migrations embedded. The
// create-order path's statements are exported from services/orders/sqlstmt,
// where the bench runs the same text.
package postgres

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/sqlstmt"
)

//go:embed migrations/*.sql
var own embed.FS

// Migrations are the orders schema plus the platform's outbox and inbox
// tables, applied in name order.
var Migrations = func() fs.FS {
	sub, err := fs.Sub(own, "migrations")
	if err != nil {
		panic(err)
	}
	return postgres.MustMerge(outbox.Migrations, sub)
}()

// Store implements app.Store.
type Store struct {
	primary *pgxpool.Pool
	reader  func() *pgxpool.Pool
	// wake is called after a commit that wrote outbox rows (the process's
	// outbox.Relay.Wake); nil in tests that run no relay.
	wake func()
}

// WakeAfterCommit makes the store call wake after every commit that wrote
// outbox rows, so that the process's relay publishes them at once.
func (s *Store) WakeAfterCommit(wake func()) { s.wake = wake }

func (s *Store) committed(events int) {
	if events > 0 && s.wake != nil {
		s.wake()
	}
}

var _ app.Store = (*Store)(nil)

// New returns a store writing to primary; reader (may be nil) picks the pool
// for lag-tolerant reads (order lists).
func New(primary *pgxpool.Pool, reader func() *pgxpool.Pool) *Store {
	if reader == nil {
		reader = func() *pgxpool.Pool { return primary }
	}
	return &Store{primary: primary, reader: reader}
}

// maxCASAttempts bounds the retries of a transition that lost a race.
const maxCASAttempts = 8

var errVersionConflict = errors.New("order version changed concurrently")

func notFound() error { return errs.E(errs.NotFound, "order not found") }

// ClaimIdempotencyKey implements app.Store. One statement takes a new key,
// an expired one, or one whose holder's lease ran out; otherwise the row
// says what to answer.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, userID, key string, hash []byte, lease, ttl time.Duration) ([]byte, error) {
	for range 3 {
		var took bool
		err := s.primary.QueryRow(ctx, sqlstmt.ClaimIdempotencyKey, userID, key, hash, lease.Milliseconds(), ttl.Milliseconds()).Scan(&took)
		switch {
		case err == nil:
			return nil, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("claim idempotency key: %w", err)
		}
		var (
			storedHash []byte
			state      int16
			response   []byte
		)
		err = s.primary.QueryRow(ctx, `
			SELECT request_hash, state, response FROM idempotency_keys
			WHERE user_id = $1 AND key = $2`, userID, key).Scan(&storedHash, &state, &response)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // swept between the two statements: claim again
		}
		if err != nil {
			return nil, fmt.Errorf("read idempotency key: %w", err)
		}
		switch {
		case !bytes.Equal(storedHash, hash):
			return nil, errs.E(errs.IdempotencyMismatch, "the Idempotency-Key was already used with a different request")
		case state == 0:
			return nil, errs.E(errs.Conflict, "a request with this Idempotency-Key is in progress; retry later")
		}
		return response, nil
	}
	return nil, errs.E(errs.Conflict, "the Idempotency-Key is contended; retry later")
}

// ReleaseIdempotencyKey implements app.Store.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, userID, key string, hash []byte) error {
	_, err := s.primary.Exec(ctx, `
		DELETE FROM idempotency_keys
		WHERE user_id = $1 AND key = $2 AND request_hash = $3 AND state = 0`, userID, key, hash)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// SweepIdempotencyKeys implements app.Store; it deletes in bounded batches so
// that a backlog never holds long locks.
func (s *Store) SweepIdempotencyKeys(ctx context.Context) (int64, error) {
	var total int64
	for {
		tag, err := s.primary.Exec(ctx, `
			DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
				SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT 1000))`)
		if err != nil {
			return total, fmt.Errorf("sweep idempotency keys: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 1000 {
			return total, nil
		}
	}
}

// CreateOrder implements app.Store: every statement of the transaction is
// pipelined in one batch.
func (s *Store) CreateOrder(ctx context.Context, o *domain.Order, c app.Change, idem app.IdempotencyRecord) error {
	f := o.Fields()
	addr, err := json.Marshal(toAddressJSON(f.Address))
	if err != nil {
		return fmt.Errorf("create order: encode address: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(sqlstmt.CompleteIdempotencyKey, idem.UserID, idem.Key, idem.Hash, idem.Response, f.ID)
	b.Queue(sqlstmt.InsertOrder,
		f.ID, f.UserID, int16(f.Status), f.Currency, f.Subtotal.Amount(), f.Shipping.Amount(),
		f.Discount.Amount(), f.Total.Amount(), f.CouponCode, int16(f.PaymentMethod), f.StoreID,
		f.ExternalOrderID, f.QuoteID, addr, f.Version, f.CreatedAt, f.UpdatedAt, traceParent(ctx))
	queueItems(b, f)
	queueTimeline(b, c.Timeline)
	if err := outbox.Queue(ctx, b, c.Events...); err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	err = postgres.InTx(ctx, s.primary, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("create order: complete idempotency key: %w", err)
		}
		if tag.RowsAffected() != 1 {
			_ = br.Close()
			return errs.E(errs.Conflict, "the Idempotency-Key was taken over by another request; retry to see its result")
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("create order: %w", err)
		}
		return nil
	})
	if err == nil {
		s.committed(len(c.Events))
	}
	return err
}

func queueItems(b *pgx.Batch, f domain.OrderFields) {
	n := len(f.Items)
	var (
		ids, variants, products, skus, titles, designs, placementIDs, designKeys, printKeys = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		externalItemIDs                                                                     = make([]string, n)
		positions, quantities                                                               = make([]int32, n), make([]int32, n)
		unitPrices, lineTotals                                                              = make([]int64, n), make([]int64, n)
		placements                                                                          = make([]*string, n)
	)
	for i, it := range f.Items {
		ids[i], variants[i], products[i], skus[i], titles[i] = it.ID, it.VariantID, it.ProductID, it.SKU, it.Title
		designs[i], placementIDs[i], designKeys[i], printKeys[i] = it.DesignID, it.PlacementID, it.DesignKey, it.PrintFileKey
		externalItemIDs[i] = it.ExternalItemID
		positions[i], quantities[i] = int32(i), it.Quantity
		unitPrices[i], lineTotals[i] = it.UnitPrice.Amount(), it.LineTotal.Amount()
		if p := toPlacementJSON(it.Placement); p != nil {
			s := string(p)
			placements[i] = &s
		}
	}
	b.Queue(sqlstmt.InsertItems,
		f.ID, ids, positions, variants, products, skus, titles, quantities, designs, placementIDs,
		unitPrices, lineTotals, designKeys, placements, printKeys, externalItemIDs)
}

func queueTimeline(b *pgx.Batch, entries []domain.TimelineEntry) {
	for _, e := range entries {
		attrs := e.Attributes
		if attrs == nil {
			attrs = map[string]string{}
		}
		b.Queue(sqlstmt.InsertTimelineEntry,
			e.ID, e.OrderID, e.Type, int16(e.From), int16(e.To), e.Message, attrs, e.CreatedAt)
	}
}

// GetOrder implements app.Store.
func (s *Store) GetOrder(ctx context.Context, id, ownerID string) (*domain.Order, error) {
	return getOrder(ctx, s.primary, id, ownerID)
}

// getOrder reads one order; the owner filter is part of the SQL, so an order
// of someone else is simply not found.
func getOrder(ctx context.Context, q postgres.Querier, id, ownerID string) (*domain.Order, error) {
	if !domain.IsUUID(id) {
		return nil, notFound()
	}
	sql := `SELECT ` + orderColumns + ` FROM orders o WHERE o.id = $1 AND ($2 = '' OR o.user_id = $2)`
	o, err := scanOrder(q.QueryRow(ctx, sql, id, ownerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

// getOrderForUpdate is getOrder with the order's trace parent.
func getOrderForUpdate(ctx context.Context, q postgres.Querier, id, ownerID string) (*domain.Order, string, error) {
	if !domain.IsUUID(id) {
		return nil, "", notFound()
	}
	var parent string
	sql := `SELECT ` + orderColumns + `, o.trace_parent FROM orders o WHERE o.id = $1 AND ($2 = '' OR o.user_id = $2)`
	o, err := scanOrder(withColumn{q.QueryRow(ctx, sql, id, ownerID), &parent})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", notFound()
	}
	if err != nil {
		return nil, "", fmt.Errorf("get order: %w", err)
	}
	return o, parent, nil
}

// ListOrders implements app.Store on the read pool. Each filter combination
// is its own statement so that the planner uses the matching index.
func (s *Store) ListOrders(ctx context.Context, q app.ListQuery) ([]*domain.Order, error) {
	sql := `SELECT ` + orderColumns + ` FROM orders o WHERE o.user_id = $1`
	args := []any{q.UserID}
	if q.Status != domain.StatusUnspecified {
		args = append(args, int16(q.Status))
		sql += fmt.Sprintf(` AND o.status = $%d`, len(args))
	}
	if q.AfterID != "" {
		args = append(args, q.AfterCreatedAt, q.AfterID)
		sql += fmt.Sprintf(` AND (o.created_at, o.id) < ($%d, $%d::uuid)`, len(args)-1, len(args))
	}
	args = append(args, q.Limit)
	sql += fmt.Sprintf(` ORDER BY o.created_at DESC, o.id DESC LIMIT $%d`, len(args))
	rows, err := s.reader().Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []*domain.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return out, nil
}

// ListTimeline implements app.Store.
func (s *Store) ListTimeline(ctx context.Context, orderID string, afterSeq int64, limit int) ([]domain.TimelineEntry, error) {
	rows, err := s.primary.Query(ctx, `
		SELECT seq, id::text, order_id::text, type, from_status, to_status, message, attributes, created_at
		FROM order_events WHERE order_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, orderID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list timeline: %w", err)
	}
	defer rows.Close()
	var out []domain.TimelineEntry
	for rows.Next() {
		var (
			e        domain.TimelineEntry
			from, to int16
		)
		if err := rows.Scan(&e.Seq, &e.ID, &e.OrderID, &e.Type, &from, &to, &e.Message, &e.Attributes, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("list timeline: %w", err)
		}
		e.From, e.To = domain.Status(from), domain.Status(to)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list timeline: %w", err)
	}
	return out, nil
}

// UpdateOrder implements app.Store: read, apply fn, then one pipelined batch
// writes the order with a compare-and-set on its version, the new items'
// print files and shipments, fn's timeline entries and outbox events; the
// inbox claim comes first in the same transaction. A lost race re-runs fn on
// the fresh order.
func (s *Store) UpdateOrder(ctx context.Context, id string, opts app.UpdateOptions, fn func(o *domain.Order) (app.Change, error)) (*domain.Order, error) {
	for attempt := 1; ; attempt++ {
		var result *domain.Order
		var events int
		err := postgres.InTx(ctx, s.primary, func(tx pgx.Tx) error {
			if opts.Inbox != nil {
				first, err := inbox.Claim(ctx, tx, opts.Inbox.Consumer, opts.Inbox.MessageID)
				if err != nil {
					return err
				}
				if !first {
					return app.ErrAlreadyProcessed
				}
			}
			o, parent, err := getOrderForUpdate(ctx, tx, id, opts.OwnerID)
			if err != nil {
				return err
			}
			before := o.Fields()
			change, err := fn(o)
			if err != nil {
				return err
			}
			after := o.Fields()
			changed := !reflect.DeepEqual(before, after)
			b := &pgx.Batch{}
			if changed {
				queueOrderUpdate(b, before, after)
			}
			queueTimeline(b, change.Timeline)
			evctx, end := ctx, func() {}
			if len(change.Events) > 0 {
				evctx, end = orderTrace(ctx, id, parent)
			}
			err = outbox.Queue(evctx, b, change.Events...)
			events = len(change.Events)
			end()
			if err != nil {
				return err
			}
			if b.Len() > 0 {
				br := tx.SendBatch(ctx, b)
				if changed {
					tag, err := br.Exec()
					if err == nil && tag.RowsAffected() == 0 {
						err = errVersionConflict
					}
					if err != nil {
						_ = br.Close()
						return err
					}
				}
				if err := br.Close(); err != nil {
					return fmt.Errorf("update order %s: %w", id, err)
				}
			}
			if changed {
				o.MarkPersisted(before.Version + 1)
			}
			result = o
			return nil
		})
		if errors.Is(err, errVersionConflict) {
			if attempt < maxCASAttempts {
				continue
			}
			return nil, errs.E(errs.Conflict, "the order is being changed concurrently; retry")
		}
		if err != nil {
			return nil, err
		}
		s.committed(events)
		return result, nil
	}
}

// queueOrderUpdate writes what a transition may change. The order row comes
// first: its row count is the compare-and-set's verdict.
func queueOrderUpdate(b *pgx.Batch, before, after domain.OrderFields) {
	b.Queue(`
		UPDATE orders SET status = $3, payment_id = $4, refund_id = $5, failure_reason = $6,
			stock_reserved = $7, updated_at = $8, version = version + 1
		WHERE id = $1 AND version = $2`,
		after.ID, before.Version, int16(after.Status), after.PaymentID, after.RefundID,
		after.FailureReason, after.StockReserved, after.UpdatedAt)
	for i, it := range after.Items {
		if i < len(before.Items) && before.Items[i].PrintFileKey != it.PrintFileKey {
			b.Queue(`UPDATE order_items SET print_file_key = $2 WHERE id = $1`, it.ID, it.PrintFileKey)
		}
	}
	for _, sh := range after.Shipments[len(before.Shipments):] {
		b.Queue(`
			INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, sh.ID, after.ID, sh.Carrier, sh.TrackingNumber, sh.TrackingURL, sh.CreatedAt)
	}
}
