// Package grpcapi is the OrderService gRPC surface: it converts between the
// orders.v1 protos and the domain and calls the use cases. It holds no
// business logic; errors go back as errs kinds and the platform's server
// interceptor maps them to gRPC codes once.
package grpcapi

import (
	"context"
	"crypto/sha256"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Server implements ordersv1.OrderServiceServer.
type Server struct {
	ordersv1.UnimplementedOrderServiceServer
	svc *app.Service
}

var _ ordersv1.OrderServiceServer = (*Server)(nil)

// New returns the gRPC surface of svc.
func New(svc *app.Service) *Server { return &Server{svc: svc} }

var deterministic = proto.MarshalOptions{Deterministic: true}

// RequestHash is the identity of a create request for its Idempotency-Key:
// SHA-256 of the request's deterministic protobuf encoding.
func RequestHash(req *ordersv1.CreateOrderRequest) ([]byte, error) {
	b, err := deterministic.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

func idempotencyKey(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(principal.MDIdempotencyKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

// CreateOrder implements ordersv1.OrderServiceServer.
func (s *Server) CreateOrder(ctx context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.Order, error) {
	hash, err := RequestHash(req)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "request cannot be encoded")
	}
	in := app.CreateOrderInput{
		Currency: req.GetCurrency(), CouponCode: req.GetCouponCode(),
		PaymentMethod: domain.PaymentMethod(req.GetPaymentMethod()), StoreID: req.GetStoreId(),
		ExternalOrderID: req.GetExternalOrderId(), Address: toDomainAddress(req.GetShippingAddress()),
	}
	for _, it := range req.GetItems() {
		in.Items = append(in.Items, app.RequestedItem{
			VariantID: it.GetVariantId(), Quantity: it.GetQuantity(), DesignID: it.GetDesignId(), PlacementID: it.GetPlacementId(),
			ExternalItemID: it.GetExternalItemId(),
		})
	}
	encoded, err := s.svc.CreateOrder(ctx, principal.From(ctx), idempotencyKey(ctx), hash, in, encodeOrder)
	if err != nil {
		return nil, err
	}
	out := &ordersv1.Order{}
	if err := proto.Unmarshal(encoded, out); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "stored response unreadable")
	}
	return out, nil
}

// encodeOrder is the create response as stored with the idempotency key.
func encodeOrder(o *domain.Order) ([]byte, error) { return deterministic.Marshal(ToProtoOrder(o)) }

// GetOrder implements ordersv1.OrderServiceServer.
func (s *Server) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	o, err := s.svc.GetOrder(ctx, principal.From(ctx), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return ToProtoOrder(o), nil
}

// ListOrders implements ordersv1.OrderServiceServer.
func (s *Server) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	res, err := s.svc.ListOrders(ctx, principal.From(ctx), app.ListInput{
		PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), UserID: req.GetUserId(),
		Status: domain.Status(req.GetStatus()),
	})
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ListOrdersResponse{NextPageToken: res.NextPageToken}
	for _, o := range res.Orders {
		out.Orders = append(out.Orders, ToProtoOrder(o))
	}
	return out, nil
}

// CancelOrder implements ordersv1.OrderServiceServer.
func (s *Server) CancelOrder(ctx context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	o, err := s.svc.CancelOrder(ctx, principal.From(ctx), req.GetOrderId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return ToProtoOrder(o), nil
}

// ListOrderEvents implements ordersv1.OrderServiceServer.
func (s *Server) ListOrderEvents(ctx context.Context, req *ordersv1.ListOrderEventsRequest) (*ordersv1.ListOrderEventsResponse, error) {
	res, err := s.svc.ListOrderEvents(ctx, principal.From(ctx), req.GetOrderId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ListOrderEventsResponse{NextPageToken: res.NextPageToken}
	for _, e := range res.Entries {
		out.Events = append(out.Events, &ordersv1.OrderEvent{
			Id: e.ID, OrderId: e.OrderID, Type: e.Type, FromStatus: ordersv1.OrderStatus(e.From),
			ToStatus: ordersv1.OrderStatus(e.To), Message: e.Message, Attributes: e.Attributes,
			CreatedAt: timestamppb.New(e.CreatedAt),
		})
	}
	return out, nil
}

// CreateShipment implements ordersv1.OrderServiceServer.
func (s *Server) CreateShipment(ctx context.Context, req *ordersv1.CreateShipmentRequest) (*ordersv1.Shipment, error) {
	sh, o, err := s.svc.CreateShipment(ctx, principal.From(ctx), req.GetOrderId(), app.ShipmentInput{
		Carrier: req.GetCarrier(), TrackingNumber: req.GetTrackingNumber(), TrackingURL: req.GetTrackingUrl(),
	})
	if err != nil {
		return nil, err
	}
	return toProtoShipment(o.ID(), sh), nil
}

func toDomainAddress(a *typesv1.Address) domain.AddressFields {
	return domain.AddressFields{
		Name: a.GetName(), Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(),
		Region: a.GetRegion(), PostalCode: a.GetPostalCode(), CountryCode: a.GetCountryCode(),
	}
}

func toProtoMoney(m domain.Money) *typesv1.Money {
	return &typesv1.Money{Currency: m.Currency(), AmountMinor: m.Amount()}
}

func toProtoShipment(orderID string, s domain.Shipment) *ordersv1.Shipment {
	f := s.Fields()
	return &ordersv1.Shipment{
		Id: f.ID, OrderId: orderID, Carrier: f.Carrier, TrackingNumber: f.TrackingNumber,
		TrackingUrl: f.TrackingURL, CreatedAt: timestamppb.New(f.CreatedAt),
	}
}

// MarshalOrder is the wire encoding of GetOrder's answer for o (what the
// order cache carries for the gateway, see services/orders/cachefmt).
func MarshalOrder(o *domain.Order) ([]byte, error) {
	return proto.Marshal(ToProtoOrder(o))
}

// ToProtoOrder converts an order for clients.
func ToProtoOrder(o *domain.Order) *ordersv1.Order {
	f := o.Fields()
	a := f.Address
	out := &ordersv1.Order{
		Id: f.ID, UserId: f.UserID, Status: ordersv1.OrderStatus(f.Status),
		ShippingAddress: &typesv1.Address{
			Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
			PostalCode: a.PostalCode, CountryCode: a.CountryCode,
		},
		Currency: f.Currency, Subtotal: toProtoMoney(f.Subtotal), Shipping: toProtoMoney(f.Shipping),
		Discount: toProtoMoney(f.Discount), Total: toProtoMoney(f.Total), CouponCode: f.CouponCode,
		PaymentMethod: ordersv1.PaymentMethod(f.PaymentMethod), StoreId: f.StoreID,
		ExternalOrderId: f.ExternalOrderID, QuoteId: f.QuoteID, PaymentId: f.PaymentID,
		FailureReason: f.FailureReason, Version: f.Version, HoldReason: f.HoldReason,
		CreatedAt: timestamppb.New(f.CreatedAt), UpdatedAt: timestamppb.New(f.UpdatedAt),
	}
	for _, it := range f.Items {
		out.Items = append(out.Items, &ordersv1.OrderItem{
			Id: it.ID, VariantId: it.VariantID, ProductId: it.ProductID, Sku: it.SKU, Title: it.Title,
			Quantity: it.Quantity, DesignId: it.DesignID, PlacementId: it.PlacementID,
			UnitPrice: toProtoMoney(it.UnitPrice), LineTotal: toProtoMoney(it.LineTotal),
			PrintFileKey: it.PrintFileKey, ExternalItemId: it.ExternalItemID,
		})
	}
	for _, s := range o.Shipments() {
		out.Shipments = append(out.Shipments, toProtoShipment(f.ID, s))
	}
	return out
}
