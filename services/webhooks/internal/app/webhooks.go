package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/keyset"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/webhooksig"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// CreateInput is a new subscription.
type CreateInput struct {
	URL         string
	EventTypes  []string
	Description string
}

func requireUser(caller principal.Principal) error {
	return caller.Require(principal.RoleUser, principal.RoleAdmin)
}

// CreateWebhook subscribes the caller's URL. The URL is checked first, then
// orders is told to announce the caller's order events (nothing is created
// when it cannot be told), then the endpoint is stored. The answer carries
// the secret, the only time it is shown.
func (s *Service) CreateWebhook(ctx context.Context, caller principal.Principal, in CreateInput) (domain.Endpoint, string, error) {
	if err := requireUser(caller); err != nil {
		return domain.Endpoint{}, "", err
	}
	if err := domain.ValidateEventTypes(in.EventTypes); err != nil {
		return domain.Endpoint{}, "", err
	}
	if err := s.o.URLs.CheckURL(ctx, in.URL); err != nil {
		return domain.Endpoint{}, "", errs.Field("url", err.Error())
	}
	if err := s.o.Orders.SetWebhookSubscriber(ctx, caller.Subject, true); err != nil {
		return domain.Endpoint{}, "", errs.Wrap(errs.Unavailable, err, "the order service is unavailable; retry")
	}
	secret, err := webhooksig.NewSecret()
	if err != nil {
		return domain.Endpoint{}, "", err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	e := domain.Endpoint{
		ID: uuid.NewString(), OwnerID: caller.Subject, URL: in.URL, EventTypes: in.EventTypes,
		Description: in.Description, Status: domain.EndpointActive, CreatedAt: now, UpdatedAt: now,
	}
	if e.SecretSealed, err = s.o.Box.Seal([]byte(secret), []byte(e.ID)); err != nil {
		return domain.Endpoint{}, "", err
	}
	if err := s.o.Store.CreateEndpoint(ctx, e, domain.MaxEndpointsPerOwner); err != nil {
		return domain.Endpoint{}, "", err
	}
	return e, secret, nil
}

// ListInput pages through subscriptions.
type ListInput struct {
	PageSize  int32
	PageToken string
	OwnerID   string // admin only
	All       bool   // admin only
}

// ListWebhooks returns the caller's subscriptions (an admin's: owner_id's,
// or everyone's with All), newest first, and the next page's token.
func (s *Service) ListWebhooks(ctx context.Context, caller principal.Principal, in ListInput) ([]domain.Endpoint, string, error) {
	if err := requireUser(caller); err != nil {
		return nil, "", err
	}
	owner := caller.Subject
	if in.OwnerID != "" || in.All {
		if !caller.IsAdmin() {
			return nil, "", errs.E(errs.PermissionDenied, "only an admin may list other owners' webhooks")
		}
		owner = in.OwnerID // "" with All: every owner's
	}
	after, afterID, err := keyset.Parse(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	n := keyset.Size(in.PageSize, 100)
	es, err := s.o.Store.ListEndpoints(ctx, EndpointQuery{OwnerID: owner, AfterCreated: after, AfterID: afterID, Limit: n + 1})
	if err != nil {
		return nil, "", err
	}
	es, next := keyset.Page(es, n, func(e domain.Endpoint) (time.Time, string) { return e.CreatedAt, e.ID })
	return es, next, nil
}

// endpoint returns the caller's endpoint id (any endpoint for an admin when
// adminMay); anyone else's is NotFound.
func (s *Service) endpoint(ctx context.Context, caller principal.Principal, id string, adminMay bool) (domain.Endpoint, error) {
	if err := requireUser(caller); err != nil {
		return domain.Endpoint{}, err
	}
	e, err := s.o.Store.GetEndpoint(ctx, id)
	if err != nil {
		return domain.Endpoint{}, err
	}
	if e.OwnerID != caller.Subject && !(adminMay && caller.IsAdmin()) {
		return domain.Endpoint{}, errs.E(errs.NotFound, "webhook not found")
	}
	return e, nil
}

// GetWebhook returns one of the caller's subscriptions (any, for an admin).
func (s *Service) GetWebhook(ctx context.Context, caller principal.Principal, id string) (domain.Endpoint, error) {
	return s.endpoint(ctx, caller, id, true)
}

// DeleteWebhook removes one of the caller's subscriptions with its
// deliveries. When the caller has no active subscription left, orders stops
// announcing its orders (best effort: a stale mark only costs notices that
// are dropped here).
func (s *Service) DeleteWebhook(ctx context.Context, caller principal.Principal, id string) error {
	e, err := s.endpoint(ctx, caller, id, false)
	if err != nil {
		return err
	}
	left, err := s.o.Store.DeleteEndpoint(ctx, e.ID)
	if err != nil {
		return err
	}
	if left == 0 {
		if err := s.o.Orders.SetWebhookSubscriber(ctx, e.OwnerID, false); err != nil {
			s.log.WarnContext(ctx, "unsubscribe owner from order notices", "owner_id", e.OwnerID, "err", err)
		}
	}
	return nil
}

// RotateWebhookSecret issues a new secret; the previous one keeps signing
// for 24 hours. The answer carries the new secret.
func (s *Service) RotateWebhookSecret(ctx context.Context, caller principal.Principal, id string) (domain.Endpoint, string, error) {
	if _, err := s.endpoint(ctx, caller, id, false); err != nil {
		return domain.Endpoint{}, "", err
	}
	secret, err := webhooksig.NewSecret()
	if err != nil {
		return domain.Endpoint{}, "", err
	}
	now := s.now().UTC()
	e, err := s.o.Store.UpdateEndpoint(ctx, id, func(e *domain.Endpoint) error {
		sealed, err := s.o.Box.Seal([]byte(secret), []byte(e.ID))
		if err != nil {
			return err
		}
		e.PrevSecretSealed, e.PrevSecretExpiresAt = e.SecretSealed, now.Add(domain.PreviousSecretValidity)
		e.SecretSealed, e.UpdatedAt = sealed, now
		return nil
	})
	if err != nil {
		return domain.Endpoint{}, "", err
	}
	return e, secret, nil
}

// EnableWebhook turns one of the caller's subscriptions back on; orders is
// told first (nothing changes when it cannot be).
func (s *Service) EnableWebhook(ctx context.Context, caller principal.Principal, id string) (domain.Endpoint, error) {
	e, err := s.endpoint(ctx, caller, id, false)
	if err != nil {
		return domain.Endpoint{}, err
	}
	if err := s.o.Orders.SetWebhookSubscriber(ctx, e.OwnerID, true); err != nil {
		return domain.Endpoint{}, errs.Wrap(errs.Unavailable, err, "the order service is unavailable; retry")
	}
	now := s.now().UTC()
	return s.o.Store.UpdateEndpoint(ctx, id, func(e *domain.Endpoint) error {
		e.Status, e.DisabledReason, e.FailingSince, e.UpdatedAt = domain.EndpointActive, "", time.Time{}, now
		return nil
	})
}

// DeliveriesInput pages through a subscription's deliveries.
type DeliveriesInput struct {
	WebhookID string
	PageSize  int32
	PageToken string
	Status    domain.DeliveryStatus
	EventID   string
}

// ListDeliveries returns a subscription's deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, caller principal.Principal, in DeliveriesInput) ([]domain.Delivery, string, error) {
	e, err := s.endpoint(ctx, caller, in.WebhookID, true)
	if err != nil {
		return nil, "", err
	}
	after, afterID, err := keyset.Parse(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	n := keyset.Size(in.PageSize, 100)
	ds, err := s.o.Store.ListDeliveries(ctx, DeliveryQuery{
		EndpointID: e.ID, Status: in.Status, EventID: in.EventID, AfterCreated: after, AfterID: afterID, Limit: n + 1,
	})
	if err != nil {
		return nil, "", err
	}
	ds, next := keyset.Page(ds, n, func(d domain.Delivery) (time.Time, string) { return d.CreatedAt, d.ID })
	return ds, next, nil
}

// ListOrderDeliveries returns every delivery of the notices about one
// order, to any subscription, newest first (admin or support: the
// operator console).
func (s *Service) ListOrderDeliveries(ctx context.Context, caller principal.Principal, orderID string, size int32, token string) ([]domain.Delivery, string, error) {
	if err := caller.RequireReader(); err != nil {
		return nil, "", err
	}
	if uuid.Validate(orderID) != nil {
		return nil, "", errs.Field("order_id", "must be a UUID")
	}
	after, afterID, err := keyset.Parse(token)
	if err != nil {
		return nil, "", err
	}
	n := keyset.Size(size, 100)
	ds, err := s.o.Store.ListOrderDeliveries(ctx, OrderDeliveryQuery{OrderID: orderID, AfterCreated: after, AfterID: afterID, Limit: n + 1})
	if err != nil {
		return nil, "", err
	}
	ds, next := keyset.Page(ds, n, func(d domain.Delivery) (time.Time, string) { return d.CreatedAt, d.ID })
	return ds, next, nil
}

// Redeliver puts one of the caller's deliveries back to pending, due now (a
// failed one too; its attempts keep counting), and wakes the dispatcher.
func (s *Service) Redeliver(ctx context.Context, caller principal.Principal, webhookID, deliveryID string) (domain.Delivery, error) {
	e, err := s.endpoint(ctx, caller, webhookID, false)
	if err != nil {
		return domain.Delivery{}, err
	}
	if e.Status != domain.EndpointActive {
		return domain.Delivery{}, errs.E(errs.FailedPrecondition, "the webhook is disabled; enable it first")
	}
	d, err := s.o.Store.Redeliver(ctx, e.ID, deliveryID, s.now().UTC())
	if err != nil {
		return domain.Delivery{}, err
	}
	s.Wake()
	return d, nil
}
