// Package grpcapi is the OrderService gRPC surface: it converts between the
// orders.v1 protos and the domain and calls the use cases. It holds no
// business logic; errors go back as errs kinds and the platform's server
// interceptor maps them to gRPC codes once.
package grpcapi

import (
	"context"
	"crypto/sha256"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/orderpb"
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
		ShippingMethod: req.GetShippingMethod(), Draft: req.Confirm != nil && !req.GetConfirm(),
	}
	in.Items = requestedItems(req.GetItems())
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

func requestedItems(items []*ordersv1.CreateOrderItem) []app.RequestedItem {
	var out []app.RequestedItem
	for _, it := range items {
		out = append(out, app.RequestedItem{
			VariantID: it.GetVariantId(), Quantity: it.GetQuantity(), DesignID: it.GetDesignId(), PlacementID: it.GetPlacementId(),
			ExternalItemID: it.GetExternalItemId(),
		})
	}
	return out
}

// UpdateOrder implements ordersv1.OrderServiceServer.
func (s *Server) UpdateOrder(ctx context.Context, req *ordersv1.UpdateOrderRequest) (*ordersv1.Order, error) {
	u := app.UpdateOrderInput{
		Items: requestedItems(req.GetItems()), ShippingMethod: req.ShippingMethod, CouponCode: req.CouponCode,
		PaymentMethod: domain.PaymentMethod(req.GetPaymentMethod()), Version: req.GetVersion(),
	}
	if req.GetShippingAddress() != nil {
		a := toDomainAddress(req.GetShippingAddress())
		u.Address = &a
	}
	o, err := s.svc.UpdateOrder(ctx, principal.From(ctx), req.GetOrderId(), u)
	if err != nil {
		return nil, err
	}
	return ToProtoOrder(o), nil
}

// ConfirmOrder implements ordersv1.OrderServiceServer.
func (s *Server) ConfirmOrder(ctx context.Context, req *ordersv1.ConfirmOrderRequest) (*ordersv1.Order, error) {
	o, err := s.svc.ConfirmOrder(ctx, principal.From(ctx), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return ToProtoOrder(o), nil
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
	in := app.ListInput{
		PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), UserID: req.GetUserId(),
		Status: domain.Status(req.GetStatus()), StoreID: req.GetStoreId(),
		ExternalOrderID: req.GetExternalOrderId(), AllOwners: req.GetAllOwners(),
	}
	var err error
	if in.CreatedAfter, err = instant("created_after", req.GetCreatedAfter()); err != nil {
		return nil, err
	}
	if in.CreatedBefore, err = instant("created_before", req.GetCreatedBefore()); err != nil {
		return nil, err
	}
	res, err := s.svc.ListOrders(ctx, principal.From(ctx), in)
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ListOrdersResponse{NextPageToken: res.NextPageToken}
	for _, o := range res.Orders {
		out.Orders = append(out.Orders, ToProtoOrder(o))
	}
	return out, nil
}

// instant is a request timestamp as a time: zero when unset.
func instant(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, errs.Field(field, "is not a valid timestamp")
	}
	return ts.AsTime(), nil
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
	in := app.ShipmentInput{
		Carrier: req.GetCarrier(), TrackingNumber: req.GetTrackingNumber(), TrackingURL: req.GetTrackingUrl(),
	}
	for _, it := range req.GetItems() {
		in.Items = append(in.Items, domain.ShipmentItem{ItemID: it.GetItemId(), Quantity: it.GetQuantity()})
	}
	sh, o, err := s.svc.CreateShipment(ctx, principal.From(ctx), req.GetOrderId(), in)
	if err != nil {
		return nil, err
	}
	return orderpb.Shipment(o, sh), nil
}

// ListShipments implements ordersv1.OrderServiceServer.
func (s *Server) ListShipments(ctx context.Context, req *ordersv1.ListShipmentsRequest) (*ordersv1.ListShipmentsResponse, error) {
	o, err := s.svc.ListShipments(ctx, principal.From(ctx), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ListShipmentsResponse{}
	for _, sh := range o.Shipments() {
		out.Shipments = append(out.Shipments, orderpb.Shipment(o, sh))
	}
	return out, nil
}

// DeliverShipment implements ordersv1.OrderServiceServer.
func (s *Server) DeliverShipment(ctx context.Context, req *ordersv1.DeliverShipmentRequest) (*ordersv1.Shipment, error) {
	sh, o, err := s.svc.DeliverShipment(ctx, principal.From(ctx), req.GetOrderId(), req.GetShipmentId())
	if err != nil {
		return nil, err
	}
	return orderpb.Shipment(o, sh), nil
}

// RecordCarrierUpdate implements ordersv1.OrderServiceServer (the
// gateway's internal call for a signed carrier update).
func (s *Server) RecordCarrierUpdate(ctx context.Context, req *ordersv1.RecordCarrierUpdateRequest) (*ordersv1.RecordCarrierUpdateResponse, error) {
	at, err := instant("occurred_at", req.GetOccurredAt())
	if err != nil {
		return nil, err
	}
	u, err := s.svc.RecordCarrierUpdate(ctx, principal.From(ctx), app.CarrierUpdateInput{
		EventID: req.GetEventId(), Carrier: req.GetCarrier(), TrackingNumber: req.GetTrackingNumber(),
		Status: domain.ShipmentStatus(req.GetStatus()), OccurredAt: at,
	})
	if err != nil {
		return nil, err
	}
	return &ordersv1.RecordCarrierUpdateResponse{
		OrderId: u.OrderID, ShipmentId: u.ShipmentID, Status: ordersv1.ShipmentStatus(u.Status),
	}, nil
}

func toDomainAddress(a *typesv1.Address) domain.AddressFields {
	return domain.AddressFields{
		Name: a.GetName(), Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(),
		Region: a.GetRegion(), PostalCode: a.GetPostalCode(), CountryCode: a.GetCountryCode(),
	}
}

// MarshalOrder is the wire encoding of GetOrder's answer for o (what the
// order cache carries for the gateway, see services/orders/cachefmt).
func MarshalOrder(o *domain.Order) ([]byte, error) {
	return proto.Marshal(ToProtoOrder(o))
}

// ToProtoOrder converts an order for clients (orderpb.Order).
func ToProtoOrder(o *domain.Order) *ordersv1.Order { return orderpb.Order(o) }
