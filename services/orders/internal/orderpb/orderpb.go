// Package orderpb converts orders from the domain to the orders.v1 protos
// clients see: one conversion for GetOrder's answer (grpcapi), the order
// cache's wire bytes and the order notices for sellers' webhooks (events),
// so that a notice shows an order exactly as GetOrder does.
package orderpb

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Money converts an amount.
func Money(m domain.Money) *typesv1.Money {
	return &typesv1.Money{Currency: m.Currency(), AmountMinor: m.Amount()}
}

// Shipment converts a package of o with its items and status.
func Shipment(o *domain.Order, s domain.Shipment) *ordersv1.Shipment {
	f := s.Fields()
	out := &ordersv1.Shipment{
		Id: f.ID, OrderId: o.ID(), Carrier: f.Carrier, TrackingNumber: f.TrackingNumber,
		TrackingUrl: f.TrackingURL, CreatedAt: timestamppb.New(f.CreatedAt),
		Status: ordersv1.ShipmentStatus(f.Status),
	}
	if !f.DeliveredAt.IsZero() {
		out.DeliveredAt = timestamppb.New(f.DeliveredAt)
	}
	for _, it := range f.Items {
		out.Items = append(out.Items, &ordersv1.ShipmentItem{ItemId: it.ItemID, Quantity: it.Quantity})
	}
	return out
}

// Order converts an order as GetOrder answers it.
func Order(o *domain.Order) *ordersv1.Order {
	f := o.Fields()
	a := f.Address
	out := &ordersv1.Order{
		Id: f.ID, UserId: f.UserID, Status: ordersv1.OrderStatus(f.Status),
		ShippingAddress: &typesv1.Address{
			Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
			PostalCode: a.PostalCode, CountryCode: a.CountryCode,
		},
		Currency: f.Currency, Subtotal: Money(f.Subtotal), Shipping: Money(f.Shipping),
		Discount: Money(f.Discount), Total: Money(f.Total), CouponCode: f.CouponCode,
		PaymentMethod: ordersv1.PaymentMethod(f.PaymentMethod), StoreId: f.StoreID,
		ExternalOrderId: f.ExternalOrderID, QuoteId: f.QuoteID, PaymentId: f.PaymentID,
		FailureReason: f.FailureReason, Version: f.Version, HoldReason: f.HoldReason,
		CreatedAt: timestamppb.New(f.CreatedAt), UpdatedAt: timestamppb.New(f.UpdatedAt),
		ShippingMethod: f.ShippingMethod, TaxIncluded: f.TaxIncluded, TraceId: f.TraceID,
	}
	if !f.Tax.IsZero() {
		out.Tax = Money(f.Tax)
	} else {
		out.Tax = &typesv1.Money{Currency: f.Currency}
	}
	if e := f.DeliveryEstimate; !e.IsZero() {
		out.DeliveryEstimate = &typesv1.DeliveryEstimate{MinDays: e.MinDays, MaxDays: e.MaxDays,
			EarliestDate: e.EarliestDate, LatestDate: e.LatestDate}
	}
	if !f.ExpiresAt.IsZero() {
		out.ExpiresAt = timestamppb.New(f.ExpiresAt)
	}
	for _, it := range f.Items {
		out.Items = append(out.Items, &ordersv1.OrderItem{
			Id: it.ID, VariantId: it.VariantID, ProductId: it.ProductID, Sku: it.SKU, Title: it.Title,
			Quantity: it.Quantity, DesignId: it.DesignID, PlacementId: it.PlacementID,
			UnitPrice: Money(it.UnitPrice), LineTotal: Money(it.LineTotal),
			PrintFileKey: it.PrintFileKey, ExternalItemId: it.ExternalItemID, MockupKey: it.MockupKey,
			ShippedQuantity: o.ShippedQuantity(it.ID),
		})
	}
	for _, s := range o.Shipments() {
		out.Shipments = append(out.Shipments, Shipment(o, s))
	}
	return out
}
