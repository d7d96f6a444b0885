package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// orderColumns selects an order with its items and shipments aggregated as
// JSON, so that one order is one query (and one round trip).
const orderColumns = `
	o.id::text, o.user_id, o.status, o.currency, o.subtotal_minor, o.shipping_minor,
	o.discount_minor, o.total_minor, o.coupon_code, o.payment_method, o.store_id,
	o.external_order_id, o.quote_id, o.payment_id, o.refund_id, o.failure_reason,
	o.stock_reserved, o.shipping_address, o.version, o.created_at, o.updated_at,
	(SELECT coalesce(json_agg(json_build_object(
		'id', i.id, 'variant_id', i.variant_id, 'product_id', i.product_id, 'sku', i.sku,
		'title', i.title, 'quantity', i.quantity, 'design_id', i.design_id,
		'placement_id', i.placement_id, 'unit_price', i.unit_price_minor,
		'line_total', i.line_total_minor, 'design_key', i.design_key,
		'placement', i.placement, 'print_file_key', i.print_file_key,
		'external_item_id', i.external_item_id, 'mockup_key', i.mockup_key) ORDER BY i.position), '[]')
	 FROM order_items i WHERE i.order_id = o.id),
	(SELECT coalesce(json_agg(json_build_object(
		'id', s.id, 'carrier', s.carrier, 'tracking_number', s.tracking_number,
		'tracking_url', s.tracking_url, 'created_at', s.created_at, 'status', s.status,
		'delivered_at', s.delivered_at, 'status_at', s.status_at,
		'items', (SELECT coalesce(json_agg(json_build_object('item_id', si.item_id, 'quantity', si.quantity)
			ORDER BY si.item_id), '[]') FROM shipment_items si WHERE si.shipment_id = s.id))
		ORDER BY s.created_at, s.id), '[]')
	 FROM shipments s WHERE s.order_id = o.id),
	o.hold_reason, o.import_request,
	o.shipping_method, coalesce(o.delivery_estimate, '{}'), o.tax_minor, o.tax_included, o.expires_at,
	o.trace_parent`

type addressJSON struct {
	Name        string `json:"name"`
	Line1       string `json:"line1"`
	Line2       string `json:"line2,omitempty"`
	City        string `json:"city"`
	Region      string `json:"region,omitempty"`
	PostalCode  string `json:"postal_code"`
	CountryCode string `json:"country_code"`
}

type placementJSON struct {
	PlacementID    string  `json:"placement_id"`
	Name           string  `json:"name"`
	WidthIn        float64 `json:"width_in"`
	HeightIn       float64 `json:"height_in"`
	MinDPI         int32   `json:"min_dpi"`
	RecommendedDPI int32   `json:"recommended_dpi"`
	Technique      string  `json:"technique,omitempty"`
}

type itemJSON struct {
	ID           string         `json:"id"`
	VariantID    string         `json:"variant_id"`
	ProductID    string         `json:"product_id"`
	SKU          string         `json:"sku"`
	Title        string         `json:"title"`
	Quantity     int32          `json:"quantity"`
	DesignID     string         `json:"design_id"`
	PlacementID  string         `json:"placement_id"`
	UnitPrice    int64          `json:"unit_price"`
	LineTotal    int64          `json:"line_total"`
	DesignKey    string         `json:"design_key"`
	Placement    *placementJSON `json:"placement"`
	PrintFileKey string         `json:"print_file_key"`
	ExternalItem string         `json:"external_item_id"`
	MockupKey    string         `json:"mockup_key"`
}

type shipmentJSON struct {
	ID             string             `json:"id"`
	Carrier        string             `json:"carrier"`
	TrackingNumber string             `json:"tracking_number"`
	TrackingURL    string             `json:"tracking_url"`
	CreatedAt      time.Time          `json:"created_at"`
	Status         int16              `json:"status"`
	DeliveredAt    *time.Time         `json:"delivered_at"`
	StatusAt       *time.Time         `json:"status_at"`
	Items          []shipmentItemJSON `json:"items"`
}

type shipmentItemJSON struct {
	ItemID   string `json:"item_id"`
	Quantity int32  `json:"quantity"`
}

func toAddressJSON(a domain.AddressFields) addressJSON {
	return addressJSON{a.Name, a.Line1, a.Line2, a.City, a.Region, a.PostalCode, a.CountryCode}
}

func toPlacementJSON(p *domain.PlacementSpec) []byte {
	if p == nil {
		return nil
	}
	b, _ := json.Marshal(placementJSON{p.PlacementID, p.Name, p.WidthIn, p.HeightIn, p.MinDPI, p.RecommendedDPI, p.Technique})
	return b
}

// scanOrder reads one row selected with orderColumns.
func scanOrder(row pgx.Row) (*domain.Order, error) {
	o, _, err := scanOrderWith(row)
	return o, err
}

// scanOrderWith reads one row selected with orderColumns followed by the
// columns extra scans into, and returns the order's traceparent too.
func scanOrderWith(row pgx.Row, extra ...any) (_ *domain.Order, traceParent string, _ error) {
	var (
		f                                   domain.OrderFields
		status, method                      int16
		subtotal, shipping, discount, total int64
		addr, items, shipments              []byte
		estimate                            []byte
		tax                                 int64
		expiresAt                           *time.Time
	)
	dest := append([]any{&f.ID, &f.UserID, &status, &f.Currency, &subtotal, &shipping, &discount, &total,
		&f.CouponCode, &method, &f.StoreID, &f.ExternalOrderID, &f.QuoteID, &f.PaymentID, &f.RefundID,
		&f.FailureReason, &f.StockReserved, &addr, &f.Version, &f.CreatedAt, &f.UpdatedAt, &items, &shipments,
		&f.HoldReason, &f.ImportRequest, &f.ShippingMethod, &estimate, &tax, &f.TaxIncluded, &expiresAt,
		&traceParent}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, "", err
	}
	f.TraceID = traceIDOf(traceParent)
	f.Status, f.PaymentMethod = domain.Status(status), domain.PaymentMethod(method)
	money := func(n int64) domain.Money { return domain.MustMoney(n, f.Currency) }
	f.Subtotal, f.Shipping, f.Discount, f.Total = money(subtotal), money(shipping), money(discount), money(total)
	f.Tax = money(tax)
	if expiresAt != nil {
		f.ExpiresAt = *expiresAt
	}
	if err := json.Unmarshal(estimate, &f.DeliveryEstimate); err != nil {
		return nil, "", fmt.Errorf("decode delivery estimate of order %s: %w", f.ID, err)
	}
	var a addressJSON
	if err := json.Unmarshal(addr, &a); err != nil {
		return nil, "", fmt.Errorf("decode address of order %s: %w", f.ID, err)
	}
	f.Address = domain.AddressFields{Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City,
		Region: a.Region, PostalCode: a.PostalCode, CountryCode: a.CountryCode}
	var its []itemJSON
	if err := json.Unmarshal(items, &its); err != nil {
		return nil, "", fmt.Errorf("decode items of order %s: %w", f.ID, err)
	}
	for _, it := range its {
		itf := domain.ItemFields{
			ID: it.ID, VariantID: it.VariantID, ProductID: it.ProductID, SKU: it.SKU, Title: it.Title,
			Quantity: it.Quantity, DesignID: it.DesignID, PlacementID: it.PlacementID,
			UnitPrice: money(it.UnitPrice), LineTotal: money(it.LineTotal), DesignKey: it.DesignKey,
			PrintFileKey: it.PrintFileKey, ExternalItemID: it.ExternalItem, MockupKey: it.MockupKey,
		}
		if p := it.Placement; p != nil {
			itf.Placement = &domain.PlacementSpec{PlacementID: p.PlacementID, Name: p.Name, WidthIn: p.WidthIn,
				HeightIn: p.HeightIn, MinDPI: p.MinDPI, RecommendedDPI: p.RecommendedDPI, Technique: p.Technique}
		}
		f.Items = append(f.Items, itf)
	}
	var shs []shipmentJSON
	if err := json.Unmarshal(shipments, &shs); err != nil {
		return nil, "", fmt.Errorf("decode shipments of order %s: %w", f.ID, err)
	}
	for _, s := range shs {
		sf := domain.ShipmentFields{ID: s.ID, Carrier: s.Carrier, TrackingNumber: s.TrackingNumber,
			TrackingURL: s.TrackingURL, CreatedAt: s.CreatedAt, Status: domain.ShipmentStatus(s.Status)}
		if s.StatusAt != nil {
			sf.StatusAt = *s.StatusAt
		}
		if s.DeliveredAt != nil {
			sf.DeliveredAt = *s.DeliveredAt
		}
		for _, si := range s.Items {
			sf.Items = append(sf.Items, domain.ShipmentItem{ItemID: si.ItemID, Quantity: si.Quantity})
		}
		f.Shipments = append(f.Shipments, sf)
	}
	o, err := domain.UnmarshalOrderFromDatabase(f)
	return o, traceParent, err
}
