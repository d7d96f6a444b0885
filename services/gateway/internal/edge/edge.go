// Package edge holds the gateway's HTTP hygiene: request ids, deadlines, body
// limits, security headers, panic recovery, access logs and RED metrics, and
// the JSON error body every gateway error uses.
package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/log"
)

// Info is the per-request state the middlewares share: outer layers read what
// inner layers learn (route template, principal).
type Info struct {
	RequestID string
	// ClientRequestID is set when RequestID is the one the client sent.
	ClientRequestID bool
	// Route is the matched path template ("" until routed).
	Route string
	// Subject is the authenticated principal ("" when anonymous).
	Subject string
	// bodyTooLarge is set when the body reader hit the size limit.
	bodyTooLarge atomic.Bool
	// MaxBody is the body limit in force.
	MaxBody int64
}

// BodyTooLarge reports whether the request body exceeded the limit.
func (i *Info) BodyTooLarge() bool { return i != nil && i.bodyTooLarge.Load() }

type infoKey struct{}

// InfoFrom returns the request's Info (never nil).
func InfoFrom(ctx context.Context) *Info {
	if i, ok := ctx.Value(infoKey{}).(*Info); ok {
		return i
	}
	return &Info{}
}

// RequestIDHeader is the request id header, echoed on every response.
const RequestIDHeader = "X-Request-Id"

// SaneRequestID reports whether a client-sent id may be kept: 1..64
// characters of [A-Za-z0-9._-].
func SaneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// RequestID assigns the request id (the client's if sane, else a UUIDv7),
// echoes it on the response and puts it, with a fresh Info, in the context.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		fromClient := SaneRequestID(id)
		if !fromClient {
			id = newID()
		}
		r.Header.Set(RequestIDHeader, id)
		w.Header().Set(RequestIDHeader, id)
		info := &Info{RequestID: id, ClientRequestID: fromClient}
		ctx := context.WithValue(log.WithRequestID(r.Context(), id), infoKey{}, info)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newID() string {
	if u, err := uuid.NewV7(); err == nil {
		return u.String()
	}
	return uuid.NewString()
}

// ErrorBody is the JSON body of every error the gateway answers.
type ErrorBody struct {
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id"`
}

// ErrorDetail is the "error" member of ErrorBody.
type ErrorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

// WriteError writes an error response with the gateway's JSON body.
func WriteError(w http.ResponseWriter, r *http.Request, httpStatus int, code, msg string, details []json.RawMessage) {
	if details == nil {
		details = []json.RawMessage{}
	}
	body, err := json.Marshal(ErrorBody{
		Error:     ErrorDetail{Code: code, Message: msg, Details: details},
		RequestID: InfoFrom(r.Context()).RequestID,
	})
	if err != nil {
		body = []byte(`{"error":{"code":"INTERNAL","message":"internal error","details":[]}}`)
		httpStatus = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
