// Package postgres is the catalog's PostgreSQL adapter: SQL for products,
// variants, placements, stock reservations, designs and stores, the outbox
// and inbox inside the same transactions, and the embedded migrations.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

//go:embed migrations/*.sql
var own embed.FS

// Migrations are the platform's messaging tables (outbox, inbox) and the
// catalog's, name-ordered.
var Migrations fs.FS = postgres.MustMerge(outbox.Migrations, mustSub(own, "migrations"))

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// Pools are the primary and the pool for lag-tolerant reads.
type Pools interface {
	Reader() *pgxpool.Pool
}

// Store implements app.Store.
type Store struct {
	primary *pgxpool.Pool
	reader  func() *pgxpool.Pool
}

var _ app.Store = (*Store)(nil)
var _ app.Tx = (*tx)(nil)

// New returns a store on db (reads that tolerate lag use db.Reader()).
func New(db *postgres.DB) *Store { return &Store{primary: db.Primary, reader: db.Reader} }

// NewFromPool returns a store whose reads all go to pool (tests).
func NewFromPool(pool *pgxpool.Pool) *Store {
	return &Store{primary: pool, reader: func() *pgxpool.Pool { return pool }}
}

// InTx runs fn in one transaction.
func (s *Store) InTx(ctx context.Context, fn func(app.Tx) error) error {
	return postgres.InTx(ctx, s.primary, func(t pgx.Tx) error { return fn(&tx{t}) })
}

type tx struct{ tx pgx.Tx }

func (t *tx) Claim(ctx context.Context, consumer, messageID string) (bool, error) {
	return inbox.Claim(ctx, t.tx, consumer, messageID)
}

func (t *tx) Emit(ctx context.Context, ev outbox.Event) error { return outbox.Add(ctx, t.tx, ev) }

func notFound(what, id string) error { return errs.E(errs.NotFound, "%s %s not found", what, id) }

// validIDs keeps the ids that are UUIDs: anything else cannot exist.
func validIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			out = append(out, id)
		}
	}
	return out
}

// ---------------------------------------------------------------- products

const productCols = `p.id::text, p.title, p.description, p.image_key, p.active, p.version, p.created_at, p.updated_at`
const variantCols = `v.id::text, v.product_id::text, v.sku, v.title, v.size, v.color, v.weight_grams, v.price_currency, v.price_minor, v.active, v.stock_tracked, v.available`
const placementCols = `pl.id::text, pl.product_id::text, pl.name, pl.width_in, pl.height_in, pl.min_dpi, pl.recommended_dpi, pl.technique`

func scanProduct(r pgx.Row) (domain.Product, error) {
	var p domain.Product
	err := r.Scan(&p.ID, &p.Title, &p.Description, &p.ImageKey, &p.Active, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

func scanVariant(r pgx.CollectableRow) (domain.Variant, error) {
	var v domain.Variant
	err := r.Scan(&v.ID, &v.ProductID, &v.SKU, &v.Title, &v.Size, &v.Color, &v.WeightGrams, &v.Price.Currency,
		&v.Price.AmountMinor, &v.Active, &v.StockTracked, &v.StockAvailable)
	return v, err
}

func scanPlacement(r pgx.CollectableRow) (domain.Placement, error) {
	var p domain.Placement
	err := r.Scan(&p.ID, &p.ProductID, &p.Name, &p.WidthIn, &p.HeightIn, &p.MinDPI, &p.RecommendedDPI, &p.Technique)
	return p, err
}

// loadProducts fetches products by a query and then their variants and
// placements, in two round trips.
func loadProducts(ctx context.Context, q postgres.Querier, sql string, args ...any) ([]domain.Product, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("select products: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Product, error) { return scanProduct(r) })
	if err != nil {
		return nil, fmt.Errorf("scan products: %w", err)
	}
	if len(ps) == 0 {
		return ps, nil
	}
	ids := make([]string, len(ps))
	index := map[string]int{}
	for i, p := range ps {
		ids[i] = p.ID
		index[p.ID] = i
		ps[i].Variants, ps[i].Placements = []domain.Variant{}, []domain.Placement{}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+variantCols+` FROM variants v WHERE v.product_id = ANY($1::uuid[]) ORDER BY v.product_id, v.position`, ids)
	b.Queue(`SELECT `+placementCols+` FROM placements pl WHERE pl.product_id = ANY($1::uuid[]) ORDER BY pl.product_id, pl.position`, ids)
	br := q.SendBatch(ctx, b)
	defer br.Close()
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("select variants: %w", err)
	}
	vs, err := pgx.CollectRows(rows, scanVariant)
	if err != nil {
		return nil, fmt.Errorf("scan variants: %w", err)
	}
	for _, v := range vs {
		i := index[v.ProductID]
		ps[i].Variants = append(ps[i].Variants, v)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("select placements: %w", err)
	}
	pls, err := pgx.CollectRows(rows, scanPlacement)
	if err != nil {
		return nil, fmt.Errorf("scan placements: %w", err)
	}
	for _, pl := range pls {
		i := index[pl.ProductID]
		ps[i].Placements = append(ps[i].Placements, pl)
	}
	return ps, nil
}

// Product reads one product from the primary.
func (s *Store) Product(ctx context.Context, id string) (domain.Product, error) {
	if uuid.Validate(id) != nil {
		return domain.Product{}, notFound("product", id)
	}
	ps, err := loadProducts(ctx, s.primary, `SELECT `+productCols+` FROM products p WHERE p.id = $1`, id)
	if err != nil {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, err)
	}
	if len(ps) == 0 {
		return domain.Product{}, notFound("product", id)
	}
	return ps[0], nil
}

// Products pages products by id.
func (s *Store) Products(ctx context.Context, afterID string, limit int, activeOnly, fromReader bool) ([]domain.Product, error) {
	pool := s.primary
	if fromReader {
		pool = s.reader()
	}
	if afterID == "" {
		afterID = "00000000-0000-0000-0000-000000000000"
	}
	ps, err := loadProducts(ctx, pool, `SELECT `+productCols+` FROM products p
		WHERE p.id > $1::uuid AND (p.active OR NOT $2) ORDER BY p.id LIMIT $3`, afterID, activeOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return ps, nil
}

// ProductsByID reads the named products from the primary.
func (s *Store) ProductsByID(ctx context.Context, ids []string) ([]domain.Product, error) {
	ps, err := loadProducts(ctx, s.primary, `SELECT `+productCols+` FROM products p WHERE p.id = ANY($1::uuid[]) ORDER BY p.id`, validIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("products by id: %w", err)
	}
	return ps, nil
}

func (t *tx) InsertProduct(ctx context.Context, p *domain.Product) error {
	err := t.tx.QueryRow(ctx, `INSERT INTO products (id, title, description, image_key, active, version)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at, updated_at`,
		p.ID, p.Title, p.Description, p.ImageKey, p.Active, p.Version).Scan(&p.CreatedAt, &p.UpdatedAt)
	if postgres.IsUniqueViolation(err, "products_pkey") {
		return errs.E(errs.AlreadyExists, "product %s already exists", p.ID)
	}
	if err != nil {
		return fmt.Errorf("insert product: %w", err)
	}
	return t.writeChildren(ctx, p, false)
}

// writeChildren upserts variants and placements (and, on update, removes
// placements that are gone) in one round trip.
func (t *tx) writeChildren(ctx context.Context, p *domain.Product, update bool) error {
	b := &pgx.Batch{}
	if update {
		keep := make([]string, len(p.Placements))
		for i, pl := range p.Placements {
			keep[i] = pl.ID
		}
		b.Queue(`DELETE FROM placements WHERE product_id = $1 AND NOT (id = ANY($2::uuid[]))`, p.ID, keep)
		// Free the names of placements being renamed before the upserts.
		b.Queue(`UPDATE placements SET name = id::text WHERE product_id = $1`, p.ID)
		b.Queue(`UPDATE variants SET sku = id::text WHERE product_id = $1`, p.ID)
	}
	for i, v := range p.Variants {
		b.Queue(`INSERT INTO variants (id, product_id, position, sku, title, size, color, weight_grams, price_currency,
				price_minor, active, stock_tracked, available)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET position = $3, sku = $4, title = $5, size = $6, color = $7, weight_grams = $8,
				price_currency = $9, price_minor = $10, active = $11, stock_tracked = $12, available = $13
			WHERE variants.product_id = $2`,
			v.ID, p.ID, i, v.SKU, v.Title, v.Size, v.Color, v.WeightGrams, v.Price.Currency, v.Price.AmountMinor,
			v.Active, v.StockTracked, v.StockAvailable)
	}
	for i, pl := range p.Placements {
		b.Queue(`INSERT INTO placements (id, product_id, position, name, width_in, height_in, min_dpi, recommended_dpi, technique)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET position = $3, name = $4, width_in = $5, height_in = $6, min_dpi = $7,
				recommended_dpi = $8, technique = $9
			WHERE placements.product_id = $2`,
			pl.ID, p.ID, i, pl.Name, pl.WidthIn, pl.HeightIn, pl.MinDPI, pl.RecommendedDPI, pl.Technique)
	}
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	if update {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("prepare children: %w", err)
			}
		}
	}
	for i := range p.Variants {
		tag, err := br.Exec()
		if postgres.IsUniqueViolation(err, "variants_sku_key") {
			return &errs.Error{Kind: errs.AlreadyExists, Message: fmt.Sprintf("product.variants[%d].sku: SKU %s is already used", i, p.Variants[i].SKU),
				Violations: []errs.FieldViolation{{Field: fmt.Sprintf("product.variants[%d].sku", i), Description: "already used by another variant"}}}
		}
		if postgres.IsUniqueViolation(err, "variants_pkey") || (err == nil && tag.RowsAffected() == 0) {
			return errs.Field(fmt.Sprintf("product.variants[%d].id", i), "belongs to another product")
		}
		if err != nil {
			return fmt.Errorf("write variant %d: %w", i, err)
		}
	}
	for i := range p.Placements {
		tag, err := br.Exec()
		if postgres.IsUniqueViolation(err, "placements_product_name_key") {
			return errs.Field(fmt.Sprintf("product.placements[%d].name", i), "duplicates another placement")
		}
		if postgres.IsUniqueViolation(err, "placements_pkey") || (err == nil && tag.RowsAffected() == 0) {
			return errs.Field(fmt.Sprintf("product.placements[%d].id", i), "belongs to another product")
		}
		if err != nil {
			return fmt.Errorf("write placement %d: %w", i, err)
		}
	}
	return nil
}

func (t *tx) LockProduct(ctx context.Context, id string) (domain.Product, error) {
	if uuid.Validate(id) != nil {
		return domain.Product{}, notFound("product", id)
	}
	ps, err := loadProducts(ctx, t.tx, `SELECT `+productCols+` FROM products p WHERE p.id = $1 FOR UPDATE`, id)
	if err != nil {
		return domain.Product{}, fmt.Errorf("lock product %s: %w", id, err)
	}
	if len(ps) == 0 {
		return domain.Product{}, notFound("product", id)
	}
	return ps[0], nil
}

func (t *tx) SaveProduct(ctx context.Context, p *domain.Product) error {
	err := t.tx.QueryRow(ctx, `UPDATE products SET title = $2, description = $3, image_key = $4, active = $5, version = $6,
		updated_at = now() WHERE id = $1 RETURNING updated_at`,
		p.ID, p.Title, p.Description, p.ImageKey, p.Active, p.Version).Scan(&p.UpdatedAt)
	if err != nil {
		return fmt.Errorf("update product: %w", err)
	}
	return t.writeChildren(ctx, p, true)
}

func (t *tx) BumpVersions(ctx context.Context, productIDs []string) (map[string]int64, error) {
	rows, err := t.tx.Query(ctx, `UPDATE products SET version = version + 1, updated_at = now()
		WHERE id = ANY($1::uuid[]) RETURNING id::text, version`, productIDs)
	if err != nil {
		return nil, fmt.Errorf("bump versions: %w", err)
	}
	out := map[string]int64{}
	var id string
	var v int64
	_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error { out[id] = v; return nil })
	if err != nil {
		return nil, fmt.Errorf("bump versions: %w", err)
	}
	return out, nil
}

// ---------------------------------------------------------------- stock

func (t *tx) StartReservation(ctx context.Context, orderID, reservationID string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO reservations (order_id, id, status) VALUES ($1, $2, 'pending')
		ON CONFLICT (order_id) DO NOTHING`, orderID, reservationID)
	if err != nil {
		return false, fmt.Errorf("start reservation: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) StockVariants(ctx context.Context, ids []string) (map[string]app.StockVariant, error) {
	rows, err := t.tx.Query(ctx, `SELECT v.id::text, v.product_id::text, v.active, p.active, v.stock_tracked, v.available
		FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = ANY($1::uuid[])`, validIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("stock variants: %w", err)
	}
	out := map[string]app.StockVariant{}
	var v app.StockVariant
	_, err = pgx.ForEachRow(rows, []any{&v.ID, &v.ProductID, &v.Active, &v.ProductActive, &v.Tracked, &v.Available},
		func() error { out[v.ID] = v; return nil })
	if err != nil {
		return nil, fmt.Errorf("stock variants: %w", err)
	}
	return out, nil
}

// Reserve decrements tracked variants in id order under a savepoint: each
// UPDATE takes the row lock and re-checks availability, so concurrent orders
// can never take more than there is; one short variant undoes them all.
func (t *tx) Reserve(ctx context.Context, items []domain.OrderItem, vars map[string]app.StockVariant) (string, []string, error) {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("savepoint: %w", err)
	}
	var zeroed []string
	seen := map[string]bool{}
	for _, it := range items {
		v := vars[it.VariantID]
		if !v.Tracked {
			continue
		}
		var left int64
		err := sp.QueryRow(ctx, `UPDATE variants SET available = available - $2
			WHERE id = $1 AND stock_tracked AND available >= $2 RETURNING available`, it.VariantID, it.Quantity).Scan(&left)
		if errors.Is(err, pgx.ErrNoRows) {
			if rbErr := sp.Rollback(ctx); rbErr != nil {
				return "", nil, fmt.Errorf("rollback to savepoint: %w", rbErr)
			}
			return it.VariantID, nil, nil
		}
		if err != nil {
			_ = sp.Rollback(ctx)
			return "", nil, fmt.Errorf("reserve %s: %w", it.VariantID, err)
		}
		if left == 0 && !seen[v.ProductID] {
			seen[v.ProductID] = true
			zeroed = append(zeroed, v.ProductID)
		}
	}
	if err := sp.Commit(ctx); err != nil {
		return "", nil, fmt.Errorf("release savepoint: %w", err)
	}
	return "", zeroed, nil
}

func (t *tx) FinishReservation(ctx context.Context, orderID, status, reason string, items []domain.OrderItem) error {
	if _, err := t.tx.Exec(ctx, `UPDATE reservations SET status = $2, reason = $3, updated_at = now() WHERE order_id = $1`,
		orderID, status, reason); err != nil {
		return fmt.Errorf("finish reservation: %w", err)
	}
	if len(items) == 0 {
		return nil
	}
	vids := make([]string, len(items))
	qty := make([]int64, len(items))
	for i, it := range items {
		vids[i], qty[i] = it.VariantID, it.Quantity
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO reservation_items (order_id, variant_id, quantity)
		SELECT $1, v, q FROM unnest($2::uuid[], $3::bigint[]) AS x(v, q)`, orderID, vids, qty); err != nil {
		return fmt.Errorf("reservation items: %w", err)
	}
	return nil
}

func (t *tx) Release(ctx context.Context, orderID string) (bool, []string, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE reservations SET status = 'released', updated_at = now()
		WHERE order_id = $1 AND status = 'reserved'`, orderID)
	if err != nil {
		return false, nil, fmt.Errorf("release reservation: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Never reserved here (rejected, released, or not seen yet): record a
		// cancellation so that a late OrderPlaced reserves nothing.
		if _, err := t.tx.Exec(ctx, `INSERT INTO reservations (order_id, id, status) VALUES ($1, $2, 'cancelled')
			ON CONFLICT (order_id) DO NOTHING`, orderID, uuid.NewString()); err != nil {
			return false, nil, fmt.Errorf("record cancellation: %w", err)
		}
		return false, nil, nil
	}
	rows, err := t.tx.Query(ctx, `UPDATE variants v SET available = v.available + ri.quantity
		FROM reservation_items ri
		WHERE ri.order_id = $1 AND v.id = ri.variant_id AND v.stock_tracked
		RETURNING v.product_id::text, v.available = ri.quantity`, orderID)
	if err != nil {
		return false, nil, fmt.Errorf("restock: %w", err)
	}
	var restocked []string
	seen := map[string]bool{}
	var pid string
	var fromZero bool
	_, err = pgx.ForEachRow(rows, []any{&pid, &fromZero}, func() error {
		if fromZero && !seen[pid] {
			seen[pid] = true
			restocked = append(restocked, pid)
		}
		return nil
	})
	if err != nil {
		return false, nil, fmt.Errorf("restock: %w", err)
	}
	return true, restocked, nil
}

// ---------------------------------------------------------------- variants for orders

// Resolve reads variants with their products' placements and designs in one
// round trip (three statements in a batch).
func (s *Store) Resolve(ctx context.Context, variantIDs, designIDs []string) ([]app.ResolvedVariant, []domain.Design, error) {
	vids, dids := validIDs(variantIDs), validIDs(designIDs)
	b := &pgx.Batch{}
	b.Queue(`SELECT `+variantCols+`, p.title, p.active, p.image_key FROM variants v JOIN products p ON p.id = v.product_id
		WHERE v.id = ANY($1::uuid[])`, vids)
	b.Queue(`SELECT `+placementCols+` FROM placements pl
		WHERE pl.product_id IN (SELECT product_id FROM variants WHERE id = ANY($1::uuid[]))
		ORDER BY pl.product_id, pl.position`, vids)
	b.Queue(`SELECT `+designCols+` FROM designs d WHERE d.id = ANY($1::uuid[])`, dids)
	br := s.primary.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("resolve variants: %w", err)
	}
	rvs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.ResolvedVariant, error) {
		var x app.ResolvedVariant
		v := &x.Variant
		err := r.Scan(&v.ID, &v.ProductID, &v.SKU, &v.Title, &v.Size, &v.Color, &v.WeightGrams, &v.Price.Currency,
			&v.Price.AmountMinor, &v.Active, &v.StockTracked, &v.StockAvailable, &x.ProductTitle, &x.ProductActive, &x.ProductImageKey)
		return x, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("resolve variants: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("resolve placements: %w", err)
	}
	pls, err := pgx.CollectRows(rows, scanPlacement)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve placements: %w", err)
	}
	byProduct := map[string][]domain.Placement{}
	for _, pl := range pls {
		byProduct[pl.ProductID] = append(byProduct[pl.ProductID], pl)
	}
	for i := range rvs {
		rvs[i].Placements = byProduct[rvs[i].Variant.ProductID]
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("resolve designs: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Design, error) { return scanDesign(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("resolve designs: %w", err)
	}
	return rvs, ds, nil
}

// ---------------------------------------------------------------- designs

const designCols = `d.id::text, d.owner_id, d.status, d.filename, d.content_type, d.size_bytes, d.object_key, d.master_key,
	d.thumbnail_key, d.preview_key, d.report, d.created_at, d.updated_at`

func scanDesign(r pgx.Row) (domain.Design, error) {
	var d domain.Design
	var status string
	var report []byte
	err := r.Scan(&d.ID, &d.OwnerID, &status, &d.Filename, &d.ContentType, &d.SizeBytes, &d.ObjectKey, &d.MasterKey,
		&d.ThumbnailKey, &d.PreviewKey, &report, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return d, err
	}
	d.Status = domain.DesignStatus(status)
	if len(report) > 0 {
		d.Report = &domain.DesignReport{}
		if err := json.Unmarshal(report, d.Report); err != nil {
			return d, fmt.Errorf("design %s report: %w", d.ID, err)
		}
	}
	return d, nil
}

// Design reads one design.
func (s *Store) Design(ctx context.Context, id string) (domain.Design, error) {
	if uuid.Validate(id) != nil {
		return domain.Design{}, notFound("design", id)
	}
	d, err := scanDesign(s.primary.QueryRow(ctx, `SELECT `+designCols+` FROM designs d WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Design{}, notFound("design", id)
	}
	if err != nil {
		return domain.Design{}, fmt.Errorf("design %s: %w", id, err)
	}
	return d, nil
}

func (t *tx) InsertDesign(ctx context.Context, d domain.Design) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO designs (id, owner_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, d.ID, d.OwnerID, string(d.Status), d.Filename, d.ContentType, d.SizeBytes, d.ObjectKey); err != nil {
		return fmt.Errorf("insert design: %w", err)
	}
	return nil
}

func (t *tx) LockDesign(ctx context.Context, id string) (domain.Design, error) {
	if uuid.Validate(id) != nil {
		return domain.Design{}, notFound("design", id)
	}
	d, err := scanDesign(t.tx.QueryRow(ctx, `SELECT `+designCols+` FROM designs d WHERE d.id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Design{}, notFound("design", id)
	}
	if err != nil {
		return domain.Design{}, fmt.Errorf("lock design %s: %w", id, err)
	}
	return d, nil
}

func (t *tx) UpdateDesign(ctx context.Context, d domain.Design) error {
	var report []byte
	if d.Report != nil {
		var err error
		if report, err = json.Marshal(d.Report); err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
	}
	if _, err := t.tx.Exec(ctx, `UPDATE designs SET status = $2, size_bytes = $3, master_key = $4, thumbnail_key = $5,
		preview_key = $6, report = $7, updated_at = now() WHERE id = $1`,
		d.ID, string(d.Status), d.SizeBytes, d.MasterKey, d.ThumbnailKey, d.PreviewKey, report); err != nil {
		return fmt.Errorf("update design: %w", err)
	}
	return nil
}

func (t *tx) ActivePlacements(ctx context.Context) ([]domain.Placement, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+placementCols+` FROM placements pl JOIN products p ON p.id = pl.product_id
		WHERE p.active ORDER BY pl.product_id, pl.position`)
	if err != nil {
		return nil, fmt.Errorf("active placements: %w", err)
	}
	pls, err := pgx.CollectRows(rows, scanPlacement)
	if err != nil {
		return nil, fmt.Errorf("active placements: %w", err)
	}
	return pls, nil
}

// ---------------------------------------------------------------- stores

const storeCols = `id::text, owner_id, marketplace, shop_id, name, rate_limit_per_second, rate_limit_burst, created_at`

func scanStore(r pgx.Row, extra ...any) (domain.Store, error) {
	var s domain.Store
	var m string
	err := r.Scan(append([]any{&s.ID, &s.OwnerID, &m, &s.ShopID, &s.Name, &s.RateLimitPerSecond, &s.RateLimitBurst, &s.CreatedAt}, extra...)...)
	s.Marketplace = domain.Marketplace(m)
	return s, err
}

func (t *tx) InsertStore(ctx context.Context, s domain.Store, sealed []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO stores (id, owner_id, marketplace, shop_id, name, credentials, rate_limit_per_second, rate_limit_burst, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		s.ID, s.OwnerID, string(s.Marketplace), s.ShopID, s.Name, sealed, s.RateLimitPerSecond, s.RateLimitBurst, s.CreatedAt)
	if postgres.IsUniqueViolation(err, "stores_owner_shop_key") {
		return errs.E(errs.AlreadyExists, "this %s shop is already connected", s.Marketplace)
	}
	if err != nil {
		// The statement's arguments are never part of a pgx error.
		return fmt.Errorf("insert store: %w", err)
	}
	return nil
}

// Stores pages an owner's stores by id.
func (s *Store) Stores(ctx context.Context, ownerID, afterID string, limit int) ([]domain.Store, error) {
	if afterID == "" {
		afterID = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.primary.Query(ctx, `SELECT `+storeCols+` FROM stores WHERE owner_id = $1 AND id > $2::uuid ORDER BY id LIMIT $3`,
		ownerID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Store, error) { return scanStore(r) })
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	return list, nil
}

// SealedStore reads a store with its sealed credentials.
func (s *Store) SealedStore(ctx context.Context, id string) (domain.Store, []byte, error) {
	if uuid.Validate(id) != nil {
		return domain.Store{}, nil, notFound("store", id)
	}
	var sealed []byte
	st, err := scanStore(s.primary.QueryRow(ctx, `SELECT `+storeCols+`, credentials FROM stores WHERE id = $1`, id), &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Store{}, nil, notFound("store", id)
	}
	if err != nil {
		return domain.Store{}, nil, fmt.Errorf("store %s: %w", id, err)
	}
	return st, sealed, nil
}
