package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
)

// ListStuckOrders implements ordersv1.OrderServiceServer.
func (s *Server) ListStuckOrders(ctx context.Context, req *ordersv1.ListStuckOrdersRequest) (*ordersv1.ListStuckOrdersResponse, error) {
	stuck, err := s.svc.ListStuckOrders(ctx, principal.From(ctx), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ListStuckOrdersResponse{StuckAfterSeconds: int64(s.svc.StuckAfter / time.Second)}
	for _, v := range stuck {
		out.Orders = append(out.Orders, &ordersv1.StuckOrder{
			Order: ToProtoOrder(v.Order), Step: string(v.Step), WaitingSince: timestamppb.New(v.WaitingSince),
			Redriven: int32(v.Redriven), LastRedrivenAt: optionalTime(v.LastRedrivenAt),
		})
	}
	return out, nil
}

// ListStoreActivity implements ordersv1.OrderServiceServer.
func (s *Server) ListStoreActivity(ctx context.Context, req *ordersv1.ListStoreActivityRequest) (*ordersv1.ListStoreActivityResponse, error) {
	acts, err := s.svc.ListStoreActivity(ctx, principal.From(ctx), req.GetStoreIds())
	if err != nil {
		return nil, err
	}
	out := &ordersv1.ListStoreActivityResponse{}
	for _, a := range acts {
		out.Stores = append(out.Stores, &ordersv1.StoreActivity{
			StoreId: a.StoreID, LastImportAt: optionalTime(a.LastImportAt), LastPushAt: optionalTime(a.LastPushAt),
			LastPushOk: a.LastPushOK, LastPushError: a.LastPushError, LastPushFailedAt: optionalTime(a.LastPushFailedAt),
			PushFailures_24H: int32(a.PushFailures24h), OrdersOnHold: int32(a.OrdersOnHold),
		})
	}
	return out, nil
}

// optionalTime is t as a timestamp, unset when zero.
func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
