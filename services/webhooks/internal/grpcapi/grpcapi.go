// Package grpcapi serves webhooksv1.WebhookService: it converts between the
// protobuf messages and the domain, reads the caller (principal.From) and
// passes it to the use cases, and holds no business logic. Errors are errs
// kinds, mapped to gRPC codes once by the platform server.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// Server implements webhooksv1.WebhookServiceServer.
type Server struct {
	webhooksv1.UnimplementedWebhookServiceServer
	app *app.Service
}

// New returns the gRPC facade of svc.
func New(svc *app.Service) *Server { return &Server{app: svc} }

// CreateWebhook implements webhooksv1.WebhookServiceServer.
func (s *Server) CreateWebhook(ctx context.Context, req *webhooksv1.CreateWebhookRequest) (*webhooksv1.Webhook, error) {
	e, secret, err := s.app.CreateWebhook(ctx, principal.From(ctx), app.CreateInput{
		URL: req.GetUrl(), EventTypes: req.GetEventTypes(), Description: req.GetDescription(),
	})
	if err != nil {
		return nil, err
	}
	w := toWebhook(e)
	w.Secret = secret
	return w, nil
}

// ListWebhooks implements webhooksv1.WebhookServiceServer.
func (s *Server) ListWebhooks(ctx context.Context, req *webhooksv1.ListWebhooksRequest) (*webhooksv1.ListWebhooksResponse, error) {
	es, next, err := s.app.ListWebhooks(ctx, principal.From(ctx), app.ListInput{
		PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), OwnerID: req.GetOwnerId(), All: req.GetAll(),
	})
	if err != nil {
		return nil, err
	}
	out := &webhooksv1.ListWebhooksResponse{NextPageToken: next}
	for _, e := range es {
		out.Webhooks = append(out.Webhooks, toWebhook(e))
	}
	return out, nil
}

// GetWebhook implements webhooksv1.WebhookServiceServer.
func (s *Server) GetWebhook(ctx context.Context, req *webhooksv1.GetWebhookRequest) (*webhooksv1.Webhook, error) {
	e, err := s.app.GetWebhook(ctx, principal.From(ctx), req.GetWebhookId())
	if err != nil {
		return nil, err
	}
	return toWebhook(e), nil
}

// DeleteWebhook implements webhooksv1.WebhookServiceServer.
func (s *Server) DeleteWebhook(ctx context.Context, req *webhooksv1.DeleteWebhookRequest) (*emptypb.Empty, error) {
	if err := s.app.DeleteWebhook(ctx, principal.From(ctx), req.GetWebhookId()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// RotateWebhookSecret implements webhooksv1.WebhookServiceServer.
func (s *Server) RotateWebhookSecret(ctx context.Context, req *webhooksv1.RotateWebhookSecretRequest) (*webhooksv1.Webhook, error) {
	e, secret, err := s.app.RotateWebhookSecret(ctx, principal.From(ctx), req.GetWebhookId())
	if err != nil {
		return nil, err
	}
	w := toWebhook(e)
	w.Secret = secret
	return w, nil
}

// EnableWebhook implements webhooksv1.WebhookServiceServer.
func (s *Server) EnableWebhook(ctx context.Context, req *webhooksv1.EnableWebhookRequest) (*webhooksv1.Webhook, error) {
	e, err := s.app.EnableWebhook(ctx, principal.From(ctx), req.GetWebhookId())
	if err != nil {
		return nil, err
	}
	return toWebhook(e), nil
}

// ListDeliveries implements webhooksv1.WebhookServiceServer.
func (s *Server) ListDeliveries(ctx context.Context, req *webhooksv1.ListDeliveriesRequest) (*webhooksv1.ListDeliveriesResponse, error) {
	ds, next, err := s.app.ListDeliveries(ctx, principal.From(ctx), app.DeliveriesInput{
		WebhookID: req.GetWebhookId(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken(),
		Status: toDomainStatus(req.GetStatus()), EventID: req.GetEventId(),
	})
	if err != nil {
		return nil, err
	}
	out := &webhooksv1.ListDeliveriesResponse{NextPageToken: next}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, toDelivery(d))
	}
	return out, nil
}

// ListOrderDeliveries implements webhooksv1.WebhookServiceServer.
func (s *Server) ListOrderDeliveries(ctx context.Context, req *webhooksv1.ListOrderDeliveriesRequest) (*webhooksv1.ListDeliveriesResponse, error) {
	ds, next, err := s.app.ListOrderDeliveries(ctx, principal.From(ctx), req.GetOrderId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &webhooksv1.ListDeliveriesResponse{NextPageToken: next}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, toDelivery(d))
	}
	return out, nil
}

// Redeliver implements webhooksv1.WebhookServiceServer.
func (s *Server) Redeliver(ctx context.Context, req *webhooksv1.RedeliverRequest) (*webhooksv1.Delivery, error) {
	d, err := s.app.Redeliver(ctx, principal.From(ctx), req.GetWebhookId(), req.GetDeliveryId())
	if err != nil {
		return nil, err
	}
	return toDelivery(d), nil
}

func tsOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func toWebhook(e domain.Endpoint) *webhooksv1.Webhook {
	status := webhooksv1.WebhookStatus_WEBHOOK_STATUS_ACTIVE
	if e.Status == domain.EndpointDisabled {
		status = webhooksv1.WebhookStatus_WEBHOOK_STATUS_DISABLED
	}
	w := &webhooksv1.Webhook{
		Id: e.ID, OwnerId: e.OwnerID, Url: e.URL, EventTypes: e.EventTypes, Description: e.Description,
		Status: status, DisabledReason: e.DisabledReason, FailingSince: tsOrNil(e.FailingSince),
		OldestPendingAt: tsOrNil(e.OldestPendingAt), CreatedAt: tsOrNil(e.CreatedAt), UpdatedAt: tsOrNil(e.UpdatedAt),
	}
	if len(e.PrevSecretSealed) > 0 && e.PrevSecretExpiresAt.After(time.Now()) {
		w.PreviousSecretExpiresAt = timestamppb.New(e.PrevSecretExpiresAt)
	}
	return w
}

func toDomainStatus(s webhooksv1.DeliveryStatus) domain.DeliveryStatus {
	switch s {
	case webhooksv1.DeliveryStatus_DELIVERY_STATUS_PENDING:
		return domain.DeliveryPending
	case webhooksv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED:
		return domain.DeliverySucceeded
	case webhooksv1.DeliveryStatus_DELIVERY_STATUS_FAILED:
		return domain.DeliveryFailed
	}
	return ""
}

func toDelivery(d domain.Delivery) *webhooksv1.Delivery {
	status := map[domain.DeliveryStatus]webhooksv1.DeliveryStatus{
		domain.DeliveryPending:   webhooksv1.DeliveryStatus_DELIVERY_STATUS_PENDING,
		domain.DeliverySucceeded: webhooksv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED,
		domain.DeliveryFailed:    webhooksv1.DeliveryStatus_DELIVERY_STATUS_FAILED,
	}[d.Status]
	return &webhooksv1.Delivery{
		Id: d.ID, WebhookId: d.EndpointID, EventId: d.EventID, EventType: d.EventType, Status: status,
		Attempts: int32(d.Attempts), ResponseStatus: int32(d.ResponseStatus), ResponseBody: d.ResponseBody,
		Error: d.Error, LatencyMs: d.Latency.Milliseconds(), NextAttemptAt: tsOrNil(d.NextAttemptAt),
		LastAttemptAt: tsOrNil(d.LastAttemptAt), CreatedAt: tsOrNil(d.CreatedAt), DeliveredAt: tsOrNil(d.DeliveredAt),
	}
}
