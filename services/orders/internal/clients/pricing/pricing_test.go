package pricing

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/errs"
)

// Pricing's answers become the order's: a coupon over its limits is a
// CONFLICT naming the coupon (HTTP 409), other refusals of the request are
// INVALID, an outage is UNAVAILABLE.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		kind errs.Kind
		msg  string
	}{
		{status.Error(codes.Aborted, `coupon "X" has reached its usage limit of 100`), errs.Conflict, `coupon "X" has reached its usage limit of 100`},
		{status.Error(codes.Aborted, `coupon "X" has reached its limit of 1 per customer`), errs.Conflict, `coupon "X" has reached its limit of 1 per customer`},
		{status.Error(codes.FailedPrecondition, `coupon "X" expired at 2026-01-01T00:00:00Z`), errs.Invalid, `pricing refused the order: coupon "X" expired`},
		{status.Error(codes.Unavailable, "down"), errs.Unavailable, "pricing unavailable"},
	}
	for _, tc := range cases {
		err := classify(tc.err)
		if errs.KindOf(err) != tc.kind || !strings.Contains(errs.Status(err).Message(), tc.msg) {
			t.Errorf("%v: %v %q, want %v %q", tc.err, errs.KindOf(err), errs.Status(err).Message(), tc.kind, tc.msg)
		}
	}
}
