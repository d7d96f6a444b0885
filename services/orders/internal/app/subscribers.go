package app

import (
	"context"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
)

// SubscriberStore records which users have outbound webhook subscriptions:
// only their orders' changes write order notices.
type SubscriberStore interface {
	// SetWebhookSubscriber marks (subscribed) or unmarks userID;
	// idempotent both ways.
	SetWebhookSubscriber(ctx context.Context, userID string, subscribed bool) error
}

// SetWebhookSubscriber records whether userID has webhook subscriptions.
// Only the webhooks service may say so.
func (s *Service) SetWebhookSubscriber(ctx context.Context, caller principal.Principal, userID string, subscribed bool) error {
	if err := caller.Require(principal.RoleService); err != nil {
		return err
	}
	if caller.Subject != principal.SubjectWebhooks {
		return errs.E(errs.PermissionDenied, "only the webhooks service marks webhook subscribers")
	}
	if userID == "" || len(userID) > 128 {
		return errs.Field("user_id", "must be 1 to 128 characters")
	}
	if s.subscribers == nil {
		return errs.E(errs.Internal, "the store does not record webhook subscribers")
	}
	return s.subscribers.SetWebhookSubscriber(ctx, userID, subscribed)
}
