package grpcapi

import (
	"context"
	"errors"

	"buf.build/go/protovalidate"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// ImportOrder implements ordersv1.OrderServiceServer (the marketplace
// worker's internal call).
func (s *Server) ImportOrder(ctx context.Context, req *ordersv1.ImportOrderRequest) (*ordersv1.ImportOrderResponse, error) {
	a := req.GetShippingAddress()
	in := app.ImportRequest{
		StoreID: req.GetStoreId(), OwnerID: req.GetOwnerId(), Marketplace: req.GetMarketplace(),
		ExternalOrderID: req.GetExternalOrderId(), Currency: req.GetCurrency(),
		PaymentMethod: domain.PaymentMethod(req.GetPaymentMethod()), Cancelled: req.GetCancelled(),
		CancelReason: req.GetCancelReason(),
		Address: domain.AddressFields{
			Name: a.GetName(), Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(),
			Region: a.GetRegion(), PostalCode: a.GetPostalCode(), CountryCode: a.GetCountryCode(),
		},
	}
	for _, l := range req.GetLines() {
		in.Lines = append(in.Lines, app.ImportLine{
			ExternalItemID: l.GetExternalItemId(), ExternalProductID: l.GetExternalProductId(),
			ExternalVariantID: l.GetExternalVariantId(), SKU: l.GetSku(), Title: l.GetTitle(), Quantity: l.GetQuantity(),
		})
	}
	res, err := s.svc.ImportOrder(ctx, principal.From(ctx), in, encodeOrder)
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ImportOrderResponse{Outcome: ordersv1.ImportOutcome(res.Outcome)}
	if res.Order != nil {
		out.Order = ToProtoOrder(res.Order)
	}
	return out, nil
}

// SetWebhookSubscriber implements ordersv1.OrderServiceServer (the webhooks
// service's internal call).
func (s *Server) SetWebhookSubscriber(ctx context.Context, req *ordersv1.SetWebhookSubscriberRequest) (*ordersv1.SetWebhookSubscriberResponse, error) {
	if err := s.svc.SetWebhookSubscriber(ctx, principal.From(ctx), req.GetUserId(), req.GetSubscribed()); err != nil {
		return nil, err
	}
	return &ordersv1.SetWebhookSubscriberResponse{}, nil
}

// RetryImport implements ordersv1.OrderServiceServer.
func (s *Server) RetryImport(ctx context.Context, req *ordersv1.RetryImportRequest) (*ordersv1.Order, error) {
	o, err := s.svc.RetryImport(ctx, principal.From(ctx), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return ToProtoOrder(o), nil
}

// CheckAddress validates an imported address by the rules of the API's
// own address (types.v1.Address): a violation names the field, e.g.
// "shipping_address.postal_code: value length must be at most 20 characters".
func CheckAddress(a domain.AddressFields) error {
	msg := &typesv1.Address{
		Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, CountryCode: a.CountryCode,
	}
	err := protovalidate.Validate(msg)
	var verr *protovalidate.ValidationError
	if errors.As(err, &verr) && len(verr.Violations) > 0 {
		v := verr.Violations[0].Proto
		return errs.Field("shipping_address."+protovalidate.FieldPathString(v.GetField()), v.GetMessage())
	}
	if err != nil {
		return errs.Wrap(errs.Internal, err, "address validation failed")
	}
	return nil
}
