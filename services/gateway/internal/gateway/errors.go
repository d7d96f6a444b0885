package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

var detailJSON = protojson.MarshalOptions{UseProtoNames: true}

// handleError answers an upstream or decoding error with the gateway's JSON
// error body. The HTTP status follows grpc-gateway's code mapping, except: an
// ErrorInfo with reason IDEMPOTENCY_KEY_REUSED is 422, a body over the limit
// is 413, and an upstream UNAUTHENTICATED (the service refused the gateway's
// signed principal: a configuration fault, not the client's) is 500. Internal
// and transport messages are never shown. An enum value the request's JSON
// or query cannot decode is named with the values the field takes.
func (g *Gateway) handleError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	info := edge.InfoFrom(ctx)
	w.Header().Del("Trailer")
	w.Header().Del("Transfer-Encoding")
	if info.BodyTooLarge() {
		edge.WriteError(w, r, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", edge.TooLargeMessage(info.MaxBody), nil)
		return
	}
	httpStatus := 0
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		httpStatus, err = hse.HTTPStatus, hse.Err
	}
	st := status.Convert(err)
	c := st.Code()
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(c)
	}
	msg := st.Message()
	var details []json.RawMessage
	switch c {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		g.o.Log.ErrorContext(ctx, "upstream internal error", "route", info.Route, "code", c.String(), "err", st.Message())
		c, httpStatus, msg = codes.Internal, http.StatusInternalServerError, "internal error"
	case codes.Unauthenticated:
		g.o.Log.ErrorContext(ctx, "upstream refused the gateway's principal; check PRINTFLEET_INTERNAL_SECRET", "route", info.Route, "err", st.Message())
		c, httpStatus, msg = codes.Internal, http.StatusInternalServerError, "internal error"
	case codes.Unavailable:
		g.o.Log.WarnContext(ctx, "upstream unavailable", "route", info.Route, "err", st.Message())
		msg = "service unavailable, retry later"
		w.Header().Set("Retry-After", "1")
	case codes.DeadlineExceeded:
		msg = "deadline exceeded"
	case codes.Canceled:
		msg = "request cancelled"
	case codes.Unimplemented:
		msg = "not implemented"
	default:
		if c == codes.InvalidArgument {
			if m, ok := enumMessage(ctx, msg); ok {
				msg = m
			}
		}
		for _, a := range st.Proto().GetDetails() {
			if b, err := detailJSON.Marshal(a); err == nil {
				details = append(details, b)
			}
		}
		for _, d := range st.Details() {
			if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == errs.ReasonIdempotencyMismatch {
				httpStatus = http.StatusUnprocessableEntity
			}
		}
	}
	edge.WriteError(w, r, httpStatus, codeName(c), msg, details)
}

func codeName(c codes.Code) string {
	if n, ok := code.Code_name[int32(c)]; ok {
		return n
	}
	return "UNKNOWN"
}

// routingError answers requests that match no route (404) or no method of a
// route (405, with Allow).
func (g *Gateway) routingError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		if ms := policy.AllowedMethods(r.URL.Path); len(ms) > 0 {
			w.Header().Set("Allow", strings.Join(ms, ", "))
		}
		edge.WriteError(w, r, http.StatusMethodNotAllowed, "UNIMPLEMENTED", "method "+edge.MethodLabel(r.Method)+" not allowed on this path", nil)
	case http.StatusNotFound:
		edge.WriteError(w, r, http.StatusNotFound, "NOT_FOUND", "no such route", nil)
	default:
		edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "malformed request path", nil)
	}
}
