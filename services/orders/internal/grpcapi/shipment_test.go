package grpcapi_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// A shipment whose tracking URL is not http(s) is refused at the edge
// (protovalidate) and nothing is shipped; an https one ships.
func TestCreateShipmentRefusesNonWebTrackingURL(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	warehouse := s.As("warehouse-1", []string{principal.RoleFulfillment}, "")
	for _, u := range []string{"javascript:alert(document.cookie)", "JAVASCRIPT:alert(1)", "data:text/html,x", "ftp://ups.example/t", "//ups.example/t"} {
		_, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1Z999AA1", TrackingUrl: u})
		st := status.Convert(err)
		// Refused by the proto rule, before the domain's own check.
		if st.Code() != codes.InvalidArgument || !detailNames(st, "tracking_url") ||
			!strings.Contains(st.Message(), "must be an http or https URL") || !strings.Contains(fmt.Sprint(st.Details()), "tracking_url.http") {
			t.Fatalf("tracking_url %q: %v (%v), want INVALID_ARGUMENT from rule tracking_url.http", u, err, st.Details())
		}
	}
	if n := testenv.Count(t, s.Pool, "shipments", ""); n != 0 {
		t.Fatalf("%d shipments stored after refused requests", n)
	}
	if _, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1Z999AA1", TrackingUrl: "https://ups.example/track/1Z999AA1"}); err != nil {
		t.Fatal(err)
	}
}
