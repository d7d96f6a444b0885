// Package orders imports marketplace orders through the orders service's
// internal gRPC API (ImportOrder), as the marketplace worker's principal.
package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Client calls the orders service's ImportOrder.
type Client struct {
	rpc     ordersv1.OrderServiceClient
	health  healthpb.HealthClient
	timeout time.Duration
}

var _ app.Orders = (*Client)(nil)

// Principal is the marketplace worker's identity towards the orders service.
var Principal = principal.Principal{Subject: principal.SubjectMarketplaceWorker, Roles: []string{principal.RoleService}}

// New uses cc (from grpcclient.Dial, which signs the principal); timeout
// bounds each call (default 10s: an import prices, reserves stock and takes
// payment).
func New(cc grpc.ClientConnInterface, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{rpc: ordersv1.NewOrderServiceClient(cc), health: healthpb.NewHealthClient(cc), timeout: timeout}
}

func (c *Client) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(principal.With(ctx, Principal), c.timeout)
}

// Retryable reports whether an ImportOrder failure may succeed later: the
// orders service was down, slow, overloaded or lost a race.
func Retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// ImportOrder imports order o of store st: the order belongs to the store's
// owner and is paid with the store's payment method. A retryable failure
// wraps domain.ErrRetryable; the orders service refusing the order as
// invalid wraps domain.ErrOrderRejected (and domain.ErrPermanent); any other
// refusal wraps domain.ErrPermanent.
func (c *Client) ImportOrder(ctx context.Context, st domain.Store, o domain.ExternalOrder) (domain.ImportOutcome, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.rpc.ImportOrder(ctx, Request(st, o))
	if err != nil {
		return domain.ImportFailed, classify(err, st, o)
	}
	switch resp.GetOutcome() {
	case ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED:
		return domain.ImportImported, nil
	case ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD:
		return domain.ImportHeld, nil
	case ordersv1.ImportOutcome_IMPORT_OUTCOME_DUPLICATE:
		return domain.ImportDuplicate, nil
	case ordersv1.ImportOutcome_IMPORT_OUTCOME_CANCELLED:
		return domain.ImportCancelled, nil
	case ordersv1.ImportOutcome_IMPORT_OUTCOME_IGNORED:
		return domain.ImportIgnored, nil
	}
	// The order exists whatever the outcome says: nothing to redo.
	return domain.ImportImported, nil
}

// importError is a classified ImportOrder failure.
type importError struct {
	msg      string
	retry    bool
	rejected bool
	err      error
}

func (e *importError) Error() string { return e.msg }
func (e *importError) Unwrap() error { return e.err }
func (e *importError) Is(target error) bool {
	switch target {
	case domain.ErrRetryable:
		return e.retry
	case domain.ErrPermanent:
		return !e.retry
	case domain.ErrOrderRejected:
		return e.rejected
	}
	return false
}

func classify(err error, st domain.Store, o domain.ExternalOrder) error {
	code := status.Code(err)
	e := &importError{msg: fmt.Sprintf("orders: import %s order %s of store %s: %s: %s", st.Marketplace, o.ExternalID, st.ID,
		code, status.Convert(err).Message()), retry: Retryable(err), err: err}
	if code == codes.Canceled || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.retry = true
	}
	e.rejected = code == codes.InvalidArgument || code == codes.OutOfRange
	return e
}

// Request is the ImportOrder request of order o of store st. Lines without
// a quantity left are not sent.
func Request(st domain.Store, o domain.ExternalOrder) *ordersv1.ImportOrderRequest {
	pm := ordersv1.PaymentMethod_PAYMENT_METHOD_CARD
	if st.PaymentMethod == "invoice" {
		pm = ordersv1.PaymentMethod_PAYMENT_METHOD_INVOICE
	}
	r := &ordersv1.ImportOrderRequest{
		StoreId:         st.ID,
		OwnerId:         st.OwnerID,
		Marketplace:     string(st.Marketplace),
		ExternalOrderId: o.ExternalID,
		Currency:        o.Currency,
		PaymentMethod:   pm,
		Cancelled:       o.Cancelled,
		CancelReason:    clip(o.CancelReason, 500),
		ShippingAddress: &ordersv1.ImportAddress{Name: o.Address.Name, Line1: o.Address.Line1, Line2: o.Address.Line2,
			City: o.Address.City, Region: o.Address.Region, PostalCode: o.Address.PostalCode, CountryCode: o.Address.CountryCode},
	}
	if !o.UpdatedAt.IsZero() {
		r.ExternalUpdatedAt = timestamppb.New(o.UpdatedAt)
	}
	for _, l := range o.Lines {
		if l.Quantity <= 0 {
			// Removed or fully refunded on the marketplace: nothing to print.
			continue
		}
		r.Lines = append(r.Lines, &ordersv1.ImportLine{ExternalItemId: l.ItemID, ExternalProductId: l.ProductID,
			ExternalVariantId: l.VariantID, Sku: l.SKU, Quantity: int32(min(l.Quantity, 1<<30)), Title: clip(l.Title, 500)})
	}
	return r
}

// clip cuts s to at most n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// Ready is a readiness check: the orders service reports SERVING.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{Service: ordersv1.OrderService_ServiceDesc.ServiceName})
	if err != nil {
		return fmt.Errorf("orders health: %w", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("orders health: %s", s)
	}
	return nil
}
