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
// outbox rows, so that the process's relay publishes them at once. A commit
// whose only events were notices for owners without a webhook subscription
// (gated out by the INSERT) wrote none and wakes nothing.
func (s *Store) WakeAfterCommit(wake func()) { s.wake = wake }

func (s *Store) committed(rows int) {
	if rows > 0 && s.wake != nil {
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

// CreateOrder implements app.Store: the idempotency key, the order, its
// items, the timeline entry and the outbox rows go in one pipelined batch
// sent outside an explicit transaction, which PostgreSQL runs as one
// implicit transaction (one round trip, one commit). The key comes first: a
// unique violation on it aborts the batch, and the key's row says what to
// answer. A key that expired (and was not swept yet) or an abandoned claim
// of the previous release's two-step protocol is removed and the batch sent
// again.
func (s *Store) CreateOrder(ctx context.Context, o *domain.Order, c app.Change, idem app.IdempotencyRecord) ([]byte, error) {
	f := o.Fields()
	addr, err := json.Marshal(toAddressJSON(f.Address))
	if err != nil {
		return nil, fmt.Errorf("create order: encode address: %w", err)
	}
	for range 3 {
		// A fresh batch each time: a sent batch holds the statement
		// descriptions of the connection it went out on.
		b := &pgx.Batch{}
		b.Queue(sqlstmt.InsertIdempotencyKey, idem.UserID, idem.Key, idem.Hash, idem.Response, f.ID, idem.TTL.Milliseconds())
		b.Queue(sqlstmt.InsertOrder,
			f.ID, f.UserID, int16(f.Status), f.Currency, f.Subtotal.Amount(), f.Shipping.Amount(),
			f.Discount.Amount(), f.Total.Amount(), f.CouponCode, int16(f.PaymentMethod), f.StoreID,
			f.ExternalOrderID, f.QuoteID, addr, f.Version, f.CreatedAt, f.UpdatedAt, traceParent(ctx),
			f.ShippingMethod, estimateText(f.DeliveryEstimate), taxAmount(f), f.TaxIncluded, timeText(f.ExpiresAt))
		queueItems(b, f)
		queueTimeline(b, c.Timeline)
		written, err := outbox.QueueWritten(ctx, b, c.Events...)
		if err != nil {
			return nil, fmt.Errorf("create order: %w", err)
		}
		err = s.primary.SendBatch(ctx, b).Close()
		if err == nil {
			s.committed(written.Rows())
			countTransition(domain.StatusUnspecified, f.Status)
			return nil, nil
		}
		if postgres.IsUniqueViolation(err, externalIndex) {
			return nil, externalTaken(f.ExternalOrderID)
		}
		if !postgres.IsUniqueViolation(err, "idempotency_keys_pkey") {
			return nil, unavailable(fmt.Errorf("create order: %w", err))
		}
		replay, err := s.storedResponse(ctx, idem)
		if errors.Is(err, errKeyFreed) {
			continue
		}
		return replay, unavailable(err)
	}
	return nil, errs.E(errs.Conflict, "the Idempotency-Key is contended; retry later")
}

// errKeyFreed says the key's row went away (swept, or removed as stale):
// the create may take it now.
var errKeyFreed = errors.New("idempotency key freed")

// storedResponse reads what a taken key answers.
func (s *Store) storedResponse(ctx context.Context, idem app.IdempotencyRecord) ([]byte, error) {
	var (
		storedHash []byte
		state      int16
		response   []byte
		stale      bool
	)
	err := s.primary.QueryRow(ctx, `
		SELECT request_hash, state, response, expires_at < now() OR (state = 0 AND locked_until < now())
		FROM idempotency_keys WHERE user_id = $1 AND key = $2`, idem.UserID, idem.Key).Scan(&storedHash, &state, &response, &stale)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, errKeyFreed
	case err != nil:
		return nil, fmt.Errorf("read idempotency key: %w", err)
	case stale:
		_, err := s.primary.Exec(ctx, `
			DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2
			AND (expires_at < now() OR (state = 0 AND locked_until < now()))`, idem.UserID, idem.Key)
		if err != nil {
			return nil, fmt.Errorf("remove stale idempotency key: %w", err)
		}
		return nil, errKeyFreed
	case !bytes.Equal(storedHash, idem.Hash):
		return nil, errs.E(errs.IdempotencyMismatch, "the Idempotency-Key was already used with a different request")
	case state == 0:
		return nil, errs.E(errs.Conflict, "a request with this Idempotency-Key is in progress; retry later")
	}
	return response, nil
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
		// A push outcome ends its package's wait (the reconciler's push
		// step reads the packages still waiting).
		if sid := attrs["shipment_id"]; domain.IsUUID(sid) &&
			(e.Type == domain.EventMarketplaceSucceeded || e.Type == domain.EventMarketplaceFailed) {
			b.Queue(`UPDATE shipments SET push_pending = false WHERE id = $1 AND order_id = $2 AND push_pending`, sid, e.OrderID)
		}
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

// ListOrders implements app.Store on the read pool (the primary when
// q.Primary). Each filter combination is its own statement so that the
// planner uses the matching index.
func (s *Store) ListOrders(ctx context.Context, q app.ListQuery) ([]*domain.Order, error) {
	sql, args := listOrdersSQL(q)
	pool := s.reader()
	if q.Primary {
		pool = s.primary
	}
	rows, err := pool.Query(ctx, sql, args...)
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

// listOrdersSQL is the statement and arguments of q: one user's orders
// (or every owner's), each filter an equality or a range that an index of
// migration 0001 or 0008 (0011 or 0012 across owners) serves in
// (created_at, id) order.
func listOrdersSQL(q app.ListQuery) (string, []any) {
	sql := `SELECT ` + orderColumns + ` FROM orders o WHERE o.user_id = $1`
	args := []any{q.UserID}
	if q.AllOwners {
		sql, args = `SELECT `+orderColumns+` FROM orders o WHERE true`, nil
	}
	if q.Status != domain.StatusUnspecified {
		args = append(args, int16(q.Status))
		sql += fmt.Sprintf(` AND o.status = $%d`, len(args))
	}
	if q.StoreID != "" {
		args = append(args, q.StoreID)
		sql += fmt.Sprintf(` AND o.store_id = $%d`, len(args))
		if q.AllOwners {
			// Implied by the equality (StoreID is set), but spelled out
			// so that the planner matches the partial index
			// orders_store_created even with a generic plan.
			sql += ` AND o.store_id <> ''`
		}
	}
	if q.ExternalOrderID != "" {
		args = append(args, q.ExternalOrderID)
		sql += fmt.Sprintf(` AND o.external_order_id = $%d`, len(args))
		if q.AllOwners {
			sql += ` AND o.external_order_id <> ''` // orders_external_created's predicate, likewise
		}
	}
	if !q.CreatedAfter.IsZero() {
		args = append(args, q.CreatedAfter)
		sql += fmt.Sprintf(` AND o.created_at >= $%d`, len(args))
	}
	if !q.CreatedBefore.IsZero() {
		args = append(args, q.CreatedBefore)
		sql += fmt.Sprintf(` AND o.created_at < $%d`, len(args))
	}
	if q.AfterID != "" {
		args = append(args, q.AfterCreatedAt, q.AfterID)
		sql += fmt.Sprintf(` AND (o.created_at, o.id) < ($%d, $%d::uuid)`, len(args)-1, len(args))
	}
	args = append(args, q.Limit)
	sql += fmt.Sprintf(` ORDER BY o.created_at DESC, o.id DESC LIMIT $%d`, len(args))
	return sql, args
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

// UpdateOrder implements app.Store in two round trips and one commit on
// one connection: a batch opens the transaction, claims the inbox and reads
// the order FOR UPDATE; fn runs; a second batch writes the order (with a
// compare-and-set on its version, which the row lock makes a formality),
// the new items' print files and shipments, fn's timeline entries and
// outbox events, and commits.
func (s *Store) UpdateOrder(ctx context.Context, id string, opts app.UpdateOptions, fn func(o *domain.Order) (app.Change, error)) (*domain.Order, error) {
	if !domain.IsUUID(id) {
		return nil, notFound()
	}
	for attempt := 1; ; attempt++ {
		o, err := s.updateOnce(ctx, id, opts, fn)
		if errors.Is(err, errVersionConflict) {
			if attempt < maxCASAttempts {
				continue
			}
			return nil, errs.E(errs.Conflict, "the order is being changed concurrently; retry")
		}
		if err != nil {
			return nil, unavailable(err)
		}
		return o, nil
	}
}

// unavailable marks a lost database as errs.Unavailable (as postgres.InTx
// does), so that callers retry later.
var unavailable = postgres.Classify

func (s *Store) updateOnce(ctx context.Context, id string, opts app.UpdateOptions, fn func(o *domain.Order) (app.Change, error)) (_ *domain.Order, err error) {
	pc, err := s.primary.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("update order %s: %w", id, err)
	}
	defer pc.Release()
	conn := pc.Conn()
	defer func() {
		// Whatever failed, leave the connection idle (the pool would
		// otherwise drop it).
		if conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
			if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil && err == nil {
				err = rerr
			}
		}
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if opts.Inbox != nil {
		if err := inbox.Queue(b, opts.Inbox.Consumer, opts.Inbox.MessageID); err != nil {
			return nil, err
		}
	}
	var parent string
	// The lock is its own statement: the read that follows takes its
	// snapshot once the lock is held, so its items and shipments are those
	// of the version it locked (a read that waited for the lock inside one
	// statement would see the row's new version with the subqueries of
	// its older snapshot, and a package shipped meanwhile would be missed).
	b.Queue(`SELECT 1 FROM orders o WHERE o.id = $1 AND ($2 = '' OR o.user_id = $2) FOR UPDATE`, id, opts.OwnerID)
	b.Queue(`SELECT `+orderColumns+` FROM orders o WHERE o.id = $1 AND ($2 = '' OR o.user_id = $2)`, id, opts.OwnerID)
	br := conn.SendBatch(ctx, b)
	o, first, err := func() (*domain.Order, bool, error) {
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return nil, false, err
		}
		first := true
		if opts.Inbox != nil {
			tag, err := br.Exec()
			if err != nil {
				return nil, false, fmt.Errorf("inbox %s: claim: %w", opts.Inbox.Consumer, err)
			}
			first = tag.RowsAffected() == 1
		}
		if _, err := br.Exec(); err != nil {
			return nil, first, fmt.Errorf("lock order: %w", err)
		}
		o, p, err := scanOrderWith(br.QueryRow())
		parent = p
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, first, notFound()
		}
		if err != nil {
			return nil, first, fmt.Errorf("get order: %w", err)
		}
		return o, first, br.Close()
	}()
	switch {
	case err != nil && !errs.Is(err, errs.NotFound):
		return nil, fmt.Errorf("update order %s: %w", id, err)
	case !first:
		return nil, app.ErrAlreadyProcessed
	case err != nil:
		return nil, err
	}

	before := o.Fields()
	change, err := fn(o)
	if err != nil {
		return nil, err
	}
	after := o.Fields()
	changed := !reflect.DeepEqual(before, after)
	b = &pgx.Batch{}
	if changed {
		queueOrderUpdate(b, before, after)
	}
	if c := change.CarrierUpdate; c != nil {
		// The event id's key makes a concurrent repeat of the same update
		// roll back whole (ErrAlreadyProcessed).
		b.Queue(`
			INSERT INTO carrier_updates (event_id, order_id, shipment_id, status, occurred_at)
			VALUES ($1, $2, $3, $4, $5)`, c.EventID, after.ID, c.ShipmentID, int16(c.Status), c.OccurredAt)
	}
	queueTimeline(b, change.Timeline)
	evctx, end := ctx, func() {}
	if len(change.Events) > 0 {
		evctx, end = orderTrace(ctx, id, parent)
	}
	written, err := outbox.QueueWritten(evctx, b, change.Events...)
	end()
	if err != nil {
		return nil, err
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	if changed {
		tag, err := br.Exec()
		if err == nil && tag.RowsAffected() == 0 {
			err = errVersionConflict
		}
		if err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		if postgres.IsUniqueViolation(err, "carrier_updates_pkey") {
			return nil, app.ErrAlreadyProcessed
		}
		return nil, fmt.Errorf("update order %s: %w", id, err)
	}
	if conn.PgConn().TxStatus() != 'I' {
		return nil, fmt.Errorf("update order %s: the transaction did not commit", id)
	}
	s.committed(written.Rows())
	if changed {
		o.MarkPersisted(before.Version + 1)
		countChange(before.Status, after.Status, change.Timeline)
	}
	return o, nil
}

// queueOrderUpdate writes what a transition may change. The order row comes
// first: its row count is the compare-and-set's verdict.
func queueOrderUpdate(b *pgx.Batch, before, after domain.OrderFields) {
	b.Queue(`
		UPDATE orders SET status = $3, payment_id = $4, refund_id = $5, failure_reason = $6,
			stock_reserved = $7, updated_at = $8, hold_reason = $9, version = version + 1
		WHERE id = $1 AND version = $2`,
		after.ID, before.Version, int16(after.Status), after.PaymentID, after.RefundID,
		after.FailureReason, after.StockReserved, after.UpdatedAt, after.HoldReason)
	if before.Status == domain.StatusOnHold && after.Status == domain.StatusPending {
		queuePlaceFromHold(b, after)
	}
	if before.Status == domain.StatusDraft {
		queueDraftContent(b, before, after)
	}
	for i, it := range after.Items {
		if i < len(before.Items) && (before.Items[i].PrintFileKey != it.PrintFileKey || before.Items[i].MockupKey != it.MockupKey) {
			b.Queue(`UPDATE order_items SET print_file_key = $2, mockup_key = $3 WHERE id = $1`, it.ID, it.PrintFileKey, it.MockupKey)
		}
	}
	for i, sh := range after.Shipments[:len(before.Shipments)] {
		if was := before.Shipments[i]; was.Status != sh.Status || !was.StatusAt.Equal(sh.StatusAt) || !was.DeliveredAt.Equal(sh.DeliveredAt) {
			b.Queue(`UPDATE shipments SET status = $2, status_at = $3, delivered_at = $4 WHERE id = $1`,
				sh.ID, int16(sh.Status), nullTime(sh.StatusAt), nullTime(sh.DeliveredAt))
		}
	}
	for _, sh := range after.Shipments[len(before.Shipments):] {
		b.Queue(`
			INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at,
				status, status_at, delivered_at, carrier_key, push_pending)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, sh.ID, after.ID, sh.Carrier, sh.TrackingNumber,
			sh.TrackingURL, sh.CreatedAt, int16(sh.Status), nullTime(sh.StatusAt), nullTime(sh.DeliveredAt), domain.NormalizeCarrier(sh.Carrier),
			after.StoreID != "") // a marketplace order's package is pushed to its store
		items, quantities := make([]string, len(sh.Items)), make([]int32, len(sh.Items))
		for j, si := range sh.Items {
			items[j], quantities[j] = si.ItemID, si.Quantity
		}
		b.Queue(`
			INSERT INTO shipment_items (shipment_id, item_id, quantity)
			SELECT $1, unnest($2::uuid[]), unnest($3::int[])`, sh.ID, items, quantities)
	}
}

// nullTime is t for a nullable column: NULL when zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// FindShipment implements app.Store on the shipments_tracking index.
func (s *Store) FindShipment(ctx context.Context, carrier, trackingNumber string) (orderID, shipmentID string, err error) {
	err = s.primary.QueryRow(ctx, `
		SELECT order_id::text, id::text FROM shipments
		WHERE carrier_key = $1 AND tracking_number = $2
		ORDER BY created_at DESC LIMIT 1`, domain.NormalizeCarrier(carrier), trackingNumber).Scan(&orderID, &shipmentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", errs.E(errs.NotFound, "no package has this carrier and tracking number")
	}
	if err != nil {
		return "", "", unavailable(fmt.Errorf("find shipment: %w", err))
	}
	return orderID, shipmentID, nil
}

// CarrierUpdate implements app.Store.
func (s *Store) CarrierUpdate(ctx context.Context, eventID string) (app.AppliedCarrierUpdate, bool, error) {
	u := app.AppliedCarrierUpdate{EventID: eventID}
	var status int16
	err := s.primary.QueryRow(ctx, `
		SELECT order_id::text, shipment_id::text, status, occurred_at FROM carrier_updates WHERE event_id = $1`,
		eventID).Scan(&u.OrderID, &u.ShipmentID, &status, &u.OccurredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return app.AppliedCarrierUpdate{}, false, nil
	}
	if err != nil {
		return app.AppliedCarrierUpdate{}, false, unavailable(fmt.Errorf("read carrier update: %w", err))
	}
	u.Status = domain.ShipmentStatus(status)
	return u, true, nil
}
