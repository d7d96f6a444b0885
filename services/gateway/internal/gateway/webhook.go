package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/grpcclient"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

// MaxWebhookBody is the largest webhook body the gateway accepts (the
// catalog's own limit). The gateway-wide body limit applies first when it is
// smaller.
const MaxWebhookBody = 1 << 20

// The headers of a Shopify webhook delivery.
const (
	HeaderShopifyHmac        = "X-Shopify-Hmac-Sha256"
	HeaderShopifyWebhookID   = "X-Shopify-Webhook-Id"
	HeaderShopifyTopic       = "X-Shopify-Topic"
	HeaderShopifyTriggeredAt = "X-Shopify-Triggered-At"
)

// WebhookUnauthenticatedMessage is the message of every 401 of a webhook
// route: it says nothing of why (missing signature, wrong signature, unknown
// store or a store of another marketplace look the same).
const WebhookUnauthenticatedMessage = "webhook signature verification failed"

// untrustedCaller is the message of platform/grpcserver's refusal of a
// principal whose signature does not verify: the gateway's configuration is
// at fault (PRINTFLEET_INTERNAL_SECRET), not the delivery.
const untrustedCaller = "untrusted caller identity"

// gatewayPrincipal is the gateway's own principal (principal.SubjectGateway
// with the service role), for calls no user makes.
var gatewayPrincipal = grpcclient.Service("gateway")

// shopifyWebhook hands one Shopify webhook delivery, as it arrived (raw
// body, signature, webhook id, topic), to the catalog, which verifies the
// signature with the store's webhook secret before it parses or stores
// anything. The route takes no token; the call goes out as the gateway's
// own principal. The body and the signature are never logged.
//
// Answers: 200 {} when the catalog took the delivery (new or a duplicate);
// 401 when the signature is missing or the catalog refuses it (but 503 when
// the catalog refuses the gateway's own principal); 400 when the
// catalog finds the delivery malformed; 404 for a store id that is not a
// UUID; 413 for a body over MaxWebhookBody; 503 for anything else, so that
// Shopify delivers it again.
func (g *Gateway) shopifyWebhook(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ctx := r.Context()
	storeID := params["store_id"]
	if !isUUID(storeID) {
		edge.WriteError(w, r, http.StatusNotFound, "NOT_FOUND", "no such store", nil)
		return
	}
	topic, webhookID := r.Header.Get(HeaderShopifyTopic), r.Header.Get(HeaderShopifyWebhookID)
	// outcome logs and counts what became of the delivery: never its body
	// or its signature.
	outcome := func(level slog.Level, what string, extra ...any) {
		g.o.Log.Log(ctx, level, "marketplace webhook", append([]any{
			"marketplace", "shopify", "store_id", storeID, "topic", clip(topic), "webhook_id", clip(webhookID), "outcome", what,
		}, extra...)...)
		g.o.Metrics.webhook("shopify", what)
	}

	sig := r.Header.Get(HeaderShopifyHmac)
	if sig == "" {
		outcome(slog.LevelWarn, "missing_signature")
		edge.WriteError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", WebhookUnauthenticatedMessage, nil)
		return
	}
	body, err := readWebhookBody(r)
	switch {
	case errors.Is(err, errBodyTooLarge):
		outcome(slog.LevelWarn, "too_large")
		limit := int64(MaxWebhookBody)
		if m := edge.InfoFrom(ctx).MaxBody; m > 0 && m < limit {
			limit = m
		}
		edge.WriteError(w, r, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", edge.TooLargeMessage(limit), nil)
		return
	case err != nil:
		outcome(slog.LevelWarn, "unreadable_body")
		edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "could not read the request body", nil)
		return
	}

	req := &catalogv1.ReceiveMarketplaceWebhookRequest{
		StoreId:     storeID,
		Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY,
		Signature:   sig,
		WebhookId:   webhookID,
		Topic:       topic,
		Body:        body,
	}
	if v := r.Header.Get(HeaderShopifyTriggeredAt); v != "" {
		// Optional and informative only: a value that does not parse is
		// dropped rather than failing the delivery.
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			req.TriggeredAt = timestamppb.New(t)
		}
	}
	callCtx := g.o.Signer.Outgoing(ctx, catalogv1.CatalogService_ReceiveMarketplaceWebhook_FullMethodName,
		gatewayPrincipal, edge.InfoFrom(ctx).RequestID)
	resp, err := g.catalog.ReceiveMarketplaceWebhook(callCtx, req)
	st := status.Convert(err)
	switch st.Code() {
	case codes.OK:
		what := "accepted"
		if resp.GetDuplicate() {
			what = "duplicate"
		}
		outcome(slog.LevelInfo, what, "bytes", len(body))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
	case codes.Unauthenticated:
		if st.Message() == untrustedCaller {
			outcome(slog.LevelError, "unavailable",
				"err", "the catalog refused the gateway's principal; check PRINTFLEET_INTERNAL_SECRET")
			w.Header().Set("Retry-After", "1")
			edge.WriteError(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "service unavailable, retry later", nil)
			return
		}
		outcome(slog.LevelWarn, "refused")
		edge.WriteError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", WebhookUnauthenticatedMessage, nil)
	case codes.InvalidArgument:
		outcome(slog.LevelWarn, "invalid", "err", st.Message())
		edge.WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "malformed webhook delivery: "+st.Message(), nil)
	default:
		outcome(slog.LevelError, "unavailable",
			"code", st.Code().String(), "err", st.Message())
		w.Header().Set("Retry-After", "1")
		edge.WriteError(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "service unavailable, retry later", nil)
	}
}

var errBodyTooLarge = errors.New("request body too large")

// readWebhookBody reads the whole body, refusing one over MaxWebhookBody (or
// the gateway-wide limit, when that is smaller) whether its length is
// declared or not.
func readWebhookBody(r *http.Request) ([]byte, error) { return readLimited(r, MaxWebhookBody) }

// isUUID accepts the canonical 36-character form only.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// clip bounds a header value before it is logged.
func clip(s string) string {
	const n = 128
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
