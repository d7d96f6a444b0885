// Package orders is the webhooks service's client of the orders service:
// it marks the users whose order events orders announces.
package orders

import (
	"context"

	"google.golang.org/grpc"

	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
)

// Client implements app.Orders over gRPC.
type Client struct{ c ordersv1.OrderServiceClient }

var _ app.Orders = (*Client)(nil)

// New returns a client on cc (dialled with platform/grpcclient).
func New(cc grpc.ClientConnInterface) *Client { return &Client{c: ordersv1.NewOrderServiceClient(cc)} }

// Self is the principal the service calls orders as.
var Self = principal.Principal{Subject: principal.SubjectWebhooks, Roles: []string{principal.RoleService}}

// SetWebhookSubscriber implements app.Orders.
func (c *Client) SetWebhookSubscriber(ctx context.Context, userID string, subscribed bool) error {
	_, err := c.c.SetWebhookSubscriber(principal.With(ctx, Self), &ordersv1.SetWebhookSubscriberRequest{UserId: userID, Subscribed: subscribed})
	return err
}
