package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
)

// Projection is the Redis read model of products.
type Projection interface {
	// Get returns the view of id; found is false on a miss, and missing
	// is true when a read of PostgreSQL found no such product moments ago
	// (see MarkMissing).
	Get(ctx context.Context, id string) (v domain.ProductView, found, missing bool, err error)
	// MarkMissing remembers for ttl that PostgreSQL has no product id,
	// unless a view of it is stored; a Put of id forgets it at once.
	MarkMissing(ctx context.Context, id string, ttl time.Duration) error
	// Put stores v unless a newer version is there; it reports whether it wrote.
	Put(ctx context.Context, v domain.ProductView) (bool, error)
	// Page returns up to limit listed ids after afterID with their views
	// (nil where the view is missing), and whether the index is complete.
	Page(ctx context.Context, afterID string, limit int) (ids []string, views []*domain.ProductView, complete bool, err error)
	// Prune drops listed ids that are not in keep and have no view.
	Prune(ctx context.Context, keep map[string]bool) (int, error)
	MarkComplete(ctx context.Context) error
}

var projectionReads = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "catalog_projection_reads_total",
	Help: "Product reads by projection outcome (hit, miss, error).",
}, []string{"op", "result"})

// Catalog is the product use cases.
type Catalog struct {
	store Store
	proj  Projection
	log   *slog.Logger

	rebuildMu   sync.Mutex
	lastRebuild time.Time
	rebuild     func(context.Context) error
}

// NewCatalog returns the product use cases.
func NewCatalog(store Store, proj Projection, log *slog.Logger) *Catalog {
	c := &Catalog{store: store, proj: proj, log: log}
	c.rebuild = func(ctx context.Context) error { _, err := NewProjector(store, proj, log).Rebuild(ctx); return err }
	return c
}

// CreateProduct adds a product (admin). IDs left empty are generated; the
// demo loader passes its own deterministic ones.
func (c *Catalog) CreateProduct(ctx context.Context, caller principal.Principal, p domain.Product) (domain.Product, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return domain.Product{}, err
	}
	if p.ID == "" {
		p.ID = newID()
	}
	for i := range p.Variants {
		if p.Variants[i].ID == "" {
			p.Variants[i].ID = newID()
		}
		p.Variants[i].ProductID = p.ID
	}
	for i := range p.Placements {
		if p.Placements[i].ID == "" {
			p.Placements[i].ID = newID()
		}
		p.Placements[i].ProductID = p.ID
	}
	if err := p.Validate(); err != nil {
		return domain.Product{}, err
	}
	p.Version = 1
	err := c.store.InTx(ctx, func(tx Tx) error {
		if err := tx.InsertProduct(ctx, &p); err != nil {
			return err
		}
		if err := tx.Emit(ctx, events.VariantPricesChanged(p)); err != nil {
			return err
		}
		return tx.Emit(ctx, events.ProductChanged(p.ID, p.Version))
	})
	if err != nil {
		return domain.Product{}, fmt.Errorf("create product: %w", err)
	}
	return p, nil
}

// ProductPatch names the fields of an update.
type ProductPatch struct {
	Product domain.Product
	// Fields are update_mask paths; empty means every field that is set.
	Fields []string
}

var patchable = map[string]bool{"title": true, "description": true, "image_key": true, "active": true, "variants": true, "placements": true}

// UpdateProduct changes the named fields (admin). A non-zero
// patch.Product.Version must match the current version.
func (c *Catalog) UpdateProduct(ctx context.Context, caller principal.Principal, id string, patch ProductPatch) (domain.Product, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return domain.Product{}, err
	}
	fields := map[string]bool{}
	for _, f := range patch.Fields {
		if !patchable[f] {
			return domain.Product{}, errs.Field("update_mask", fmt.Sprintf("unknown or read-only field %q", f))
		}
		fields[f] = true
	}
	in := patch.Product
	if len(fields) == 0 {
		fields = map[string]bool{"title": in.Title != "", "description": in.Description != "", "image_key": in.ImageKey != "",
			"variants": len(in.Variants) > 0, "placements": len(in.Placements) > 0}
	}
	var out domain.Product
	err := c.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.LockProduct(ctx, id)
		if err != nil {
			return err
		}
		if in.Version != 0 && in.Version != cur.Version {
			return errs.E(errs.Conflict, "product changed since version %d (now %d)", in.Version, cur.Version)
		}
		next := cur
		if fields["title"] {
			next.Title = in.Title
		}
		if fields["description"] {
			next.Description = in.Description
		}
		if fields["image_key"] {
			next.ImageKey = in.ImageKey
		}
		if fields["active"] {
			next.Active = in.Active
		}
		if fields["variants"] {
			if next.Variants, err = mergeVariants(cur, in.Variants); err != nil {
				return err
			}
		}
		if fields["placements"] {
			if next.Placements, err = mergePlacements(cur, in.Placements); err != nil {
				return err
			}
		}
		if err := next.Validate(); err != nil {
			return err
		}
		next.Version = cur.Version + 1
		if err := tx.SaveProduct(ctx, &next); err != nil {
			return err
		}
		out = next
		if events.PricesChanged(cur, next) {
			if err := tx.Emit(ctx, events.VariantPricesChanged(next)); err != nil {
				return err
			}
		}
		return tx.Emit(ctx, events.ProductChanged(next.ID, next.Version))
	})
	if err != nil {
		return domain.Product{}, fmt.Errorf("update product %s: %w", id, err)
	}
	return out, nil
}

// mergeVariants matches incoming variants to existing ones by id, else by
// SKU; existing variants left out are deactivated, never deleted (orders
// refer to them).
func mergeVariants(cur domain.Product, in []domain.Variant) ([]domain.Variant, error) {
	byID := map[string]int{}
	bySKU := map[string]int{}
	for i, v := range cur.Variants {
		byID[v.ID] = i
		bySKU[strings.ToUpper(v.SKU)] = i
	}
	used := map[int]bool{}
	out := make([]domain.Variant, 0, len(in)+len(cur.Variants))
	for i, v := range in {
		j, ok := -1, false
		if v.ID != "" {
			if j, ok = byID[v.ID]; !ok {
				return nil, errs.Field(fmt.Sprintf("product.variants[%d].id", i), "not a variant of this product")
			}
		} else if j, ok = bySKU[strings.ToUpper(v.SKU)]; !ok {
			v.ID = newID()
		}
		if ok {
			if used[j] {
				return nil, errs.Field(fmt.Sprintf("product.variants[%d]", i), "names the same variant twice")
			}
			used[j] = true
			v.ID = cur.Variants[j].ID
		}
		v.ProductID = cur.ID
		out = append(out, v)
	}
	for j, v := range cur.Variants {
		if !used[j] {
			v.Active = false
			out = append(out, v)
		}
	}
	return out, nil
}

// mergePlacements matches by id, else by name; placements left out are
// removed.
func mergePlacements(cur domain.Product, in []domain.Placement) ([]domain.Placement, error) {
	byID := map[string]string{}
	byName := map[string]string{}
	for _, p := range cur.Placements {
		byID[p.ID] = p.ID
		byName[strings.ToLower(p.Name)] = p.ID
	}
	out := make([]domain.Placement, 0, len(in))
	for i, p := range in {
		switch id, ok := byID[p.ID]; {
		case p.ID != "" && !ok:
			return nil, errs.Field(fmt.Sprintf("product.placements[%d].id", i), "not a placement of this product")
		case p.ID != "":
			p.ID = id
		default:
			if id, ok := byName[strings.ToLower(p.Name)]; ok {
				p.ID = id
			} else {
				p.ID = newID()
			}
		}
		p.ProductID = cur.ID
		out = append(out, p)
	}
	return out, nil
}

// AdminProduct reads the full product from PostgreSQL (admin): inactive
// products and stock levels included.
func (c *Catalog) AdminProduct(ctx context.Context, caller principal.Principal, id string) (domain.Product, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return domain.Product{}, err
	}
	return c.store.Product(ctx, id)
}

// MissTTL is how long a product PostgreSQL does not have is answered
// NOT_FOUND from the projection without asking PostgreSQL again: anonymous
// reads of unknown ids cost one query per id per MissTTL. A product created
// with that id shows as soon as its view is projected, and at the latest
// after MissTTL.
const MissTTL = 3 * time.Second

// ProductView serves a product from its projection; on a miss it reads
// PostgreSQL and repairs the projection, or remembers the miss for MissTTL.
// Redis trouble degrades to PostgreSQL, it does not fail the read.
func (c *Catalog) ProductView(ctx context.Context, id string) (domain.ProductView, error) {
	v, found, missing, err := c.proj.Get(ctx, id)
	switch {
	case err != nil:
		projectionReads.WithLabelValues("get", "error").Inc()
		c.log.WarnContext(ctx, "projection read failed; reading PostgreSQL", "err", err)
	case found:
		projectionReads.WithLabelValues("get", "hit").Inc()
		if !v.Active {
			return domain.ProductView{}, errs.E(errs.NotFound, "product %s not found", id)
		}
		return v, nil
	case missing:
		projectionReads.WithLabelValues("get", "known_missing").Inc()
		return domain.ProductView{}, errs.E(errs.NotFound, "product %s not found", id)
	default:
		projectionReads.WithLabelValues("get", "miss").Inc()
	}
	p, err := c.store.Product(ctx, id)
	if errs.Is(err, errs.NotFound) && uuid.Validate(id) == nil {
		if merr := c.proj.MarkMissing(ctx, id, MissTTL); merr != nil {
			c.log.WarnContext(ctx, "projection miss not remembered", "product_id", id, "err", merr)
		}
	}
	if err != nil {
		return domain.ProductView{}, err
	}
	v = p.View()
	c.repair(ctx, v)
	if !v.Active {
		return domain.ProductView{}, errs.E(errs.NotFound, "product %s not found", id)
	}
	return v, nil
}

func (c *Catalog) repair(ctx context.Context, v domain.ProductView) {
	if _, err := c.proj.Put(ctx, v); err != nil {
		c.log.WarnContext(ctx, "projection repair failed", "product_id", v.ID, "err", err)
	}
}

// Page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// ListProducts pages active products by id, from the projection; with an
// incomplete index (Redis lost it) it reads PostgreSQL and starts a rebuild.
func (c *Catalog) ListProducts(ctx context.Context, pageSize int, pageToken string) ([]domain.ProductView, string, error) {
	limit, after, err := page(pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	ids, views, complete, err := c.proj.Page(ctx, after, limit+1)
	if err != nil || !complete {
		if err != nil {
			projectionReads.WithLabelValues("list", "error").Inc()
			c.log.WarnContext(ctx, "projection list failed; reading PostgreSQL", "err", err)
		} else {
			projectionReads.WithLabelValues("list", "miss").Inc()
			c.kickRebuild()
		}
		ps, err := c.store.Products(ctx, after, limit+1, true, true)
		if err != nil {
			return nil, "", err
		}
		out := make([]domain.ProductView, len(ps))
		for i := range ps {
			out[i] = ps[i].View()
		}
		return pageOut(out, limit)
	}
	projectionReads.WithLabelValues("list", "hit").Inc()
	var missing []string
	for i, v := range views {
		if v == nil {
			missing = append(missing, ids[i])
		}
	}
	if len(missing) > 0 {
		ps, err := c.store.ProductsByID(ctx, missing)
		if err != nil {
			return nil, "", err
		}
		got := map[string]domain.ProductView{}
		for i := range ps {
			v := ps[i].View()
			got[v.ID] = v
			c.repair(ctx, v)
		}
		for i, id := range ids {
			if views[i] == nil {
				if v, ok := got[id]; ok {
					views[i] = &v
				}
			}
		}
	}
	out := make([]domain.ProductView, 0, len(views))
	for _, v := range views {
		if v != nil && v.Active {
			out = append(out, *v)
		}
	}
	return pageOut(out, limit)
}

func pageOut(vs []domain.ProductView, limit int) ([]domain.ProductView, string, error) {
	return pageOf(vs, limit, func(v domain.ProductView) string { return v.ID })
}

// pageOf cuts a list read with one row more than limit to the page, and
// names the next page when there is one.
func pageOf[T any](list []T, limit int, id func(T) string) ([]T, string, error) {
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit]
	return list, encodeToken(id(list[limit-1])), nil
}

const tokenPrefix = "k1:"

func encodeToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + id))
}

// page turns page_size/page_token into a limit and the id to start after.
func page(size int, token string) (int, string, error) {
	switch {
	case size < 0:
		return 0, "", errs.Field("page_size", "must not be negative")
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	after, err := decodeToken(token)
	if err != nil {
		return 0, "", err
	}
	return size, after, nil
}

// decodeToken returns the id a page token starts after ("" for none).
func decodeToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	id, ok := strings.CutPrefix(string(raw), tokenPrefix)
	if err != nil || !ok || uuid.Validate(id) != nil {
		return "", errs.Field("page_token", "malformed page token")
	}
	return strings.ToLower(id), nil
}

// kickRebuild starts at most one background rebuild per 30 s.
func (c *Catalog) kickRebuild() {
	c.rebuildMu.Lock()
	defer c.rebuildMu.Unlock()
	if time.Since(c.lastRebuild) < 30*time.Second {
		return
	}
	c.lastRebuild = time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := c.rebuild(ctx); err != nil {
			c.log.Warn("background projection rebuild failed", "err", err)
		}
	}()
}

// GetVariants resolves variants (with their products' placements) and
// designs in one round trip (internal: orders).
func (c *Catalog) GetVariants(ctx context.Context, caller principal.Principal, variantIDs, designIDs []string) ([]ResolvedVariant, []domain.Design, error) {
	if err := caller.Require(principal.RoleService, principal.RoleAdmin); err != nil {
		return nil, nil, err
	}
	return c.store.Resolve(ctx, variantIDs, designIDs)
}
