package grpcapi_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestListOrdersOfAllOwners lists alice's and bob's orders together for an
// admin and support, pages through them with a filter, and refuses the
// flag to a user (PERMISSION_DENIED) and next to a user_id
// (INVALID_ARGUMENT).
func TestListOrdersOfAllOwners(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	var want []string // newest first
	for i, user := range []string{"alice", "bob", "alice"} {
		o, err := s.Client.CreateOrder(s.User(user, "all-"+string(rune('a'+i))), f.Request(user))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{o.GetId()}, want...)
	}
	for name, ctx := range map[string]context.Context{"admin": adminCtx(s), "support": supportCtx(s)} {
		t.Run(name, func(t *testing.T) {
			var got []string
			req := &ordersv1.ListOrdersRequest{AllOwners: true, PageSize: 2,
				Status: ordersv1.OrderStatus_ORDER_STATUS_PENDING}
			for {
				resp, err := s.Client.ListOrders(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range resp.GetOrders() {
					got = append(got, o.GetId())
				}
				if resp.GetNextPageToken() == "" {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if !slices.Equal(got, want) {
				t.Fatalf("every owner's orders: %v, want %v", got, want)
			}
			// Without all_owners the caller's own orders (none).
			resp, err := s.Client.ListOrders(ctx, &ordersv1.ListOrdersRequest{})
			if err != nil || len(resp.GetOrders()) != 0 {
				t.Fatalf("own orders: %v %v", resp, err)
			}
			// A token of every owner's list is not one of a user's.
			first, err := s.Client.ListOrders(ctx, &ordersv1.ListOrdersRequest{AllOwners: true, PageSize: 1})
			if err != nil || first.GetNextPageToken() == "" {
				t.Fatalf("first page: %v %v", first, err)
			}
			_, err = s.Client.ListOrders(ctx, &ordersv1.ListOrdersRequest{UserId: "alice", PageSize: 1, PageToken: first.GetNextPageToken()})
			if code(err) != codes.InvalidArgument {
				t.Fatalf("token reused for alice's list: %v", err)
			}
			_, err = s.Client.ListOrders(ctx, &ordersv1.ListOrdersRequest{AllOwners: true, UserId: "alice"})
			if code(err) != codes.InvalidArgument {
				t.Fatalf("all_owners with user_id: %v, want InvalidArgument", err)
			}
		})
	}
	if _, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{AllOwners: true}); code(err) != codes.PermissionDenied {
		t.Fatalf("a user listing every owner's orders: %v, want PermissionDenied", err)
	}
}
