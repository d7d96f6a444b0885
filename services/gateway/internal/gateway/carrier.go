package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/webhooksig"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

// HeaderCarrierSignature carries a carrier update's signature:
// "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">" under the carrier secret.
const HeaderCarrierSignature = "Printfleet-Carrier-Signature"

// MaxCarrierBody is the largest carrier update the gateway reads.
const MaxCarrierBody = 64 << 10

// CarrierTolerance is how far a carrier update's signed timestamp may be
// from the gateway's clock.
const CarrierTolerance = 5 * time.Minute

// CarrierUpdate is the body of POST /v1/carrier-updates.
type CarrierUpdate struct {
	EventID        string    `json:"event_id"`
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	Status         string    `json:"status"`
	OccurredAt     time.Time `json:"occurred_at"`
}

// CarrierUpdateAnswer is the route's 200 answer.
type CarrierUpdateAnswer struct {
	OrderID    string `json:"order_id"`
	ShipmentID string `json:"shipment_id"`
	Status     string `json:"status"`
}

// carrierUpdate verifies a carrier's signed tracking update and hands it to
// orders (RecordCarrierUpdate) as the gateway's own principal. The route
// takes no token.
//
// Answers: 200 with the package and its status (a repeated event id
// answers as the first); 401 when the signature is missing, wrong or
// outside CarrierTolerance; 400 for a malformed body; 404 for an unknown
// tracking number, and while no carrier secret is configured (the route is
// off); 413 for a body over MaxCarrierBody; 503 for anything else, so that
// the carrier sends it again.
func (g *Gateway) carrierUpdate(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx := r.Context()
	outcome := func(level slog.Level, what string, extra ...any) {
		g.o.Log.Log(ctx, level, "carrier update", append([]any{"outcome", what}, extra...)...)
		g.o.Metrics.webhook("carrier", what)
	}
	secret := g.o.CarrierSecret
	if secret == "" {
		outcome(slog.LevelWarn, "disabled")
		edge.WriteError(w, r, http.StatusNotFound, "NOT_FOUND", "carrier updates are not enabled", nil)
		return
	}
	sig := r.Header.Get(HeaderCarrierSignature)
	if sig == "" {
		outcome(slog.LevelWarn, "missing_signature")
		edge.WriteError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", WebhookUnauthenticatedMessage, nil)
		return
	}
	body, err := readLimited(r, MaxCarrierBody)
	switch {
	case errors.Is(err, errBodyTooLarge):
		outcome(slog.LevelWarn, "too_large")
		edge.WriteError(w, r, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", edge.TooLargeMessage(MaxCarrierBody), nil)
		return
	case err != nil:
		outcome(slog.LevelWarn, "unreadable_body")
		edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "could not read the request body", nil)
		return
	}
	if err := webhooksig.Verify(sig, body, secret, CarrierTolerance, time.Now()); err != nil {
		outcome(slog.LevelWarn, "refused", "err", err.Error())
		edge.WriteError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", WebhookUnauthenticatedMessage, nil)
		return
	}
	req, err := parseCarrierUpdate(body)
	if err != nil {
		outcome(slog.LevelWarn, "invalid", "err", err.Error())
		edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "malformed carrier update: "+err.Error(), nil)
		return
	}
	callCtx := g.o.Signer.Outgoing(ctx, ordersv1.OrderService_RecordCarrierUpdate_FullMethodName,
		gatewayPrincipal, edge.InfoFrom(ctx).RequestID)
	resp, err := g.orders.RecordCarrierUpdate(callCtx, req)
	st := status.Convert(err)
	switch st.Code() {
	case codes.OK:
		outcome(slog.LevelInfo, "applied", "event_id", clip(req.GetEventId()), "shipment_id", resp.GetShipmentId(),
			"status", resp.GetStatus().String())
		b, _ := json.Marshal(CarrierUpdateAnswer{
			OrderID: resp.GetOrderId(), ShipmentID: resp.GetShipmentId(),
			Status: strings.TrimPrefix(resp.GetStatus().String(), "SHIPMENT_STATUS_"),
		})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	case codes.InvalidArgument:
		outcome(slog.LevelWarn, "invalid", "err", st.Message())
		edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "malformed carrier update: "+st.Message(), nil)
	case codes.NotFound:
		outcome(slog.LevelWarn, "unknown_package", "event_id", clip(req.GetEventId()))
		edge.WriteError(w, r, http.StatusNotFound, "NOT_FOUND", "no package has this carrier and tracking number", nil)
	default:
		outcome(slog.LevelError, "unavailable", "code", st.Code().String(), "err", st.Message())
		w.Header().Set("Retry-After", "1")
		edge.WriteError(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "service unavailable, retry later", nil)
	}
}

// parseCarrierUpdate reads a verified body strictly: every field is
// required, no other field is taken, and the status is one of the package
// statuses (with or without the SHIPMENT_STATUS_ prefix). orders checks the
// rest (lengths, characters) from the proto.
func parseCarrierUpdate(body []byte) (*ordersv1.RecordCarrierUpdateRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var u CarrierUpdate
	if err := dec.Decode(&u); err != nil {
		return nil, errors.New("the body is not a carrier update object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body has trailing data")
	}
	name := strings.ToUpper(strings.TrimSpace(u.Status))
	if !strings.HasPrefix(name, "SHIPMENT_STATUS_") {
		name = "SHIPMENT_STATUS_" + name
	}
	st, ok := ordersv1.ShipmentStatus_value[name]
	switch {
	case u.EventID == "" || u.Carrier == "" || u.TrackingNumber == "":
		return nil, errors.New("event_id, carrier and tracking_number are required")
	case !ok || st == 0:
		return nil, errors.New("status must be IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED or EXCEPTION")
	case u.OccurredAt.IsZero():
		return nil, errors.New("occurred_at is required")
	}
	return &ordersv1.RecordCarrierUpdateRequest{
		EventId: u.EventID, Carrier: u.Carrier, TrackingNumber: u.TrackingNumber,
		Status: ordersv1.ShipmentStatus(st), OccurredAt: timestamppb.New(u.OccurredAt),
	}, nil
}

// readLimited reads the whole body, refusing one over limit (or the
// gateway-wide limit, when that is smaller) whether its length is declared
// or not.
func readLimited(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	if r.Body == nil {
		return []byte{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || edge.InfoFrom(r.Context()).BodyTooLarge():
		return nil, errBodyTooLarge
	case err != nil:
		return nil, err
	case int64(len(body)) > limit:
		return nil, errBodyTooLarge
	}
	return body, nil
}
