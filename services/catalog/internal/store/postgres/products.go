package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Products: a product row with its variants and placements, read in two
// round trips and written in one transaction with its children.

const productCols = `p.id::text, p.title, p.description, p.image_key, p.active, p.version, p.created_at, p.updated_at`

func scanProduct(r pgx.Row) (domain.Product, error) {
	var p domain.Product
	err := r.Scan(&p.ID, &p.Title, &p.Description, &p.ImageKey, &p.Active, &p.Version, &p.CreatedAt, &p.UpdatedAt)
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
