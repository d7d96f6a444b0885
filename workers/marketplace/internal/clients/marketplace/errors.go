package marketplace

import (
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Classify turns an HTTP answer that is not a success into an *Error with the usual
// meaning of its status; adapters refine it with the marketplace's own codes.
func Classify(m domain.Marketplace, op string, r *Response) *domain.Error {
	e := &domain.Error{Marketplace: m, Op: op, Status: r.Status, Message: r.Snippet()}
	retryAfter, _ := ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
	switch {
	case r.Status == 429:
		e.Kind, e.Reason, e.RetryAfter = domain.KindRetryable, domain.ReasonThrottled, retryAfter
	case r.Status >= 500 || r.Status == 408:
		e.Kind, e.Reason, e.RetryAfter = domain.KindRetryable, domain.ReasonUnavailable, retryAfter
	case r.Status == 401 || r.Status == 403:
		e.Kind, e.Reason = domain.KindPermanent, domain.ReasonAuth
	case r.Status == 404:
		e.Kind, e.Reason = domain.KindPermanent, domain.ReasonNotFound
	default:
		e.Kind, e.Reason = domain.KindPermanent, domain.ReasonInvalid
	}
	return e
}
