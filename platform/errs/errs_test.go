package errs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/errs"
)

func TestKindToCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{errs.E(errs.Invalid, "quantity must be positive"), codes.InvalidArgument, "quantity must be positive"},
		{errs.E(errs.NotFound, "order not found"), codes.NotFound, "order not found"},
		{errs.E(errs.AlreadyExists, "exists"), codes.AlreadyExists, "exists"},
		{errs.E(errs.Conflict, "in flight"), codes.Aborted, "in flight"},
		{errs.E(errs.FailedPrecondition, "in production"), codes.FailedPrecondition, "in production"},
		{errs.E(errs.IdempotencyMismatch, "key reused"), codes.FailedPrecondition, "key reused"},
		{errs.E(errs.Unauthenticated, "who"), codes.Unauthenticated, "who"},
		{errs.E(errs.PermissionDenied, "role"), codes.PermissionDenied, "role"},
		{errs.E(errs.ResourceExhausted, "slow down"), codes.ResourceExhausted, "slow down"},
		{errs.E(errs.Unavailable, "payment down"), codes.Unavailable, "payment down"},
		{fmt.Errorf("load order: %w", errs.E(errs.NotFound, "order not found")), codes.NotFound, "order not found"},
		// Internal causes never reach the client.
		{errs.Wrap(errs.Internal, errors.New("pq: relation orders does not exist"), "load order"), codes.Internal, "internal error"},
		{errors.New("dial tcp 10.0.0.7:5432: connection refused"), codes.Internal, "internal error"},
		{fmt.Errorf("charge: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		// A status from a service we called passes through unchanged.
		{status.Error(codes.NotFound, "variant not found"), codes.NotFound, "variant not found"},
	}
	for _, c := range cases {
		st := errs.Status(c.err)
		if st.Code() != c.code || st.Message() != c.msg {
			t.Errorf("Status(%v) = %v %q, want %v %q", c.err, st.Code(), st.Message(), c.code, c.msg)
		}
	}
}

func TestFieldViolationsAndIdempotencyReason(t *testing.T) {
	t.Parallel()
	st := errs.Status(errs.Field("items[0].quantity", "must be greater than 0"))
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		if b, ok := d.(*errdetails.BadRequest); ok {
			br = b
		}
	}
	if br == nil || br.FieldViolations[0].Field != "items[0].quantity" {
		t.Fatalf("no field violation in %v", st.Details())
	}
	st = errs.Status(errs.E(errs.IdempotencyMismatch, "idempotency key reused with another body"))
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.Reason != errs.ReasonIdempotencyMismatch {
		t.Fatalf("no ErrorInfo reason in %v", st.Details())
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	if k := errs.KindOf(fmt.Errorf("x: %w", errs.E(errs.Conflict, "busy"))); k != errs.Conflict {
		t.Fatalf("got %v", k)
	}
	if k := errs.KindOf(status.Error(codes.Unavailable, "down")); k != errs.Unavailable {
		t.Fatalf("status kinds: got %v", k)
	}
	if !errs.Is(errs.E(errs.NotFound, "x"), errs.NotFound) || errs.Is(nil, errs.Internal) {
		t.Fatal("Is")
	}
}
