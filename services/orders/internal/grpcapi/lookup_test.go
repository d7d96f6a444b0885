package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestListOrdersLookups filters alice's orders by store, marketplace order
// number, status and creation time, pages through a filtered list, and
// refuses a page token with other filters than it was issued for.
func TestListOrdersLookups(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	var ids, exts []string
	var created []time.Time
	for i := 0; i < 3; i++ {
		req := f.Request("alice")
		if i == 2 {
			req.StoreId, req.ExternalOrderId = "", ""
		}
		o, err := s.Client.CreateOrder(s.User("alice", "lookup-"+string(rune('a'+i))), req)
		if err != nil {
			t.Fatal(err)
		}
		ids, exts, created = append(ids, o.GetId()), append(exts, req.ExternalOrderId), append(created, o.GetCreatedAt().AsTime())
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.Client.CreateOrder(s.User("bob", "lookup-bob"), f.Request("bob")); err != nil {
		t.Fatal(err)
	}
	store := f.StoreOf("alice")
	list := func(req *ordersv1.ListOrdersRequest) []string {
		t.Helper()
		resp, err := s.Client.ListOrders(s.User("alice", ""), req)
		if err != nil {
			t.Fatalf("%v: %v", req, err)
		}
		var got []string
		for _, o := range resp.GetOrders() {
			got = append(got, o.GetId())
		}
		return got
	}
	same := func(name string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", name, got, want)
			}
		}
	}
	same("external id", list(&ordersv1.ListOrdersRequest{ExternalOrderId: exts[0]}), ids[0])
	same("store", list(&ordersv1.ListOrdersRequest{StoreId: store}), ids[1], ids[0])
	same("store and external id", list(&ordersv1.ListOrdersRequest{StoreId: store, ExternalOrderId: exts[1]}), ids[1])
	same("another's external id", list(&ordersv1.ListOrdersRequest{ExternalOrderId: "nobody-has-this"}))
	same("status", list(&ordersv1.ListOrdersRequest{Status: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED}))
	same("created range", list(&ordersv1.ListOrdersRequest{
		CreatedAfter: timestamppb.New(created[1]), CreatedBefore: timestamppb.New(created[2]),
	}), ids[1])
	same("created after", list(&ordersv1.ListOrdersRequest{CreatedAfter: timestamppb.New(created[1])}), ids[2], ids[1])

	// Paging a filtered list, and a token bound to its filters.
	first, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{StoreId: store, PageSize: 1})
	if err != nil || len(first.GetOrders()) != 1 || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", first, err)
	}
	next, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{StoreId: store, PageSize: 1, PageToken: first.GetNextPageToken()})
	if err != nil || len(next.GetOrders()) != 1 || next.GetOrders()[0].GetId() != ids[0] {
		t.Fatalf("second page: %v %v", next, err)
	}
	for name, req := range map[string]*ordersv1.ListOrdersRequest{
		"no filter":    {PageToken: first.GetNextPageToken()},
		"external id":  {StoreId: store, ExternalOrderId: exts[0], PageToken: first.GetNextPageToken()},
		"created from": {StoreId: store, CreatedAfter: timestamppb.New(created[0]), PageToken: first.GetNextPageToken()},
		"status":       {StoreId: store, Status: ordersv1.OrderStatus_ORDER_STATUS_PENDING, PageToken: first.GetNextPageToken()},
	} {
		if _, err := s.Client.ListOrders(s.User("alice", ""), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("token with other filters (%s): %v, want InvalidArgument", name, err)
		}
	}
	for name, req := range map[string]*ordersv1.ListOrdersRequest{
		"store not a uuid": {StoreId: "shop"},
		"empty range":      {CreatedAfter: timestamppb.New(created[1]), CreatedBefore: timestamppb.New(created[0])},
		"bad timestamp":    {CreatedAfter: &timestamppb.Timestamp{Seconds: -1 << 62}},
	} {
		if _, err := s.Client.ListOrders(s.User("alice", ""), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}
