package adapters

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Kind tells the caller what to do with a failed push.
type Kind uint8

const (
	// KindRetryable: the push may succeed later; requeue it with backoff.
	KindRetryable Kind = iota + 1
	// KindPermanent: the push will not succeed as it stands; don't retry.
	KindPermanent
)

func (k Kind) String() string {
	switch k {
	case KindRetryable:
		return "retryable"
	case KindPermanent:
		return "permanent"
	}
	return "unknown"
}

// Sentinels matched by errors.Is against any *Error of that kind.
var (
	ErrRetryable = errors.New("retryable marketplace error")
	ErrPermanent = errors.New("permanent marketplace error")
)

// Reason says why a call failed.
type Reason string

// Reasons.
const (
	ReasonThrottled   Reason = "throttled"   // 429 / THROTTLED
	ReasonUnavailable Reason = "unavailable" // 5xx
	ReasonTransport   Reason = "transport"   // no HTTP answer, or the call timed out
	ReasonBudget      Reason = "budget"      // the rate budget has no room before the deadline
	ReasonNotReady    Reason = "not_ready"   // the order can't take the push yet
	ReasonAuth        Reason = "auth"        // credentials refused, even after a refresh
	ReasonInvalid     Reason = "invalid"     // the marketplace rejected the data
	ReasonNotFound    Reason = "not_found"
	ReasonCanceled    Reason = "canceled" // the caller's context ended
)

// Error is a classified marketplace failure.
type Error struct {
	Kind        Kind
	Reason      Reason
	Marketplace Marketplace
	Op          string
	Status      int    // HTTP status, if there was an answer
	Code        string // the marketplace's error code, e.g. QuotaExceeded
	Message     string // the marketplace's message, trimmed
	// RetryAfter is how long the marketplace asked us to wait (0: not said).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %s %s", e.Marketplace, e.Op, e.Kind, e.Reason)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrRetryable and ErrPermanent by kind.
func (e *Error) Is(target error) bool {
	return (target == ErrRetryable && e.Kind == KindRetryable) || (target == ErrPermanent && e.Kind == KindPermanent)
}

// IsRetryable reports whether a push that failed with err may succeed later.
func IsRetryable(err error) bool { return errors.Is(err, ErrRetryable) }

// IsPermanent reports whether retrying err is pointless.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// ReasonOf returns err's reason, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Classify turns an HTTP answer that is not a success into an *Error with the usual
// meaning of its status; adapters refine it with the marketplace's own codes.
func Classify(m Marketplace, op string, r *Response) *Error {
	e := &Error{Marketplace: m, Op: op, Status: r.Status, Message: r.Snippet()}
	retryAfter, _ := ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
	switch {
	case r.Status == 429:
		e.Kind, e.Reason, e.RetryAfter = KindRetryable, ReasonThrottled, retryAfter
	case r.Status >= 500 || r.Status == 408:
		e.Kind, e.Reason, e.RetryAfter = KindRetryable, ReasonUnavailable, retryAfter
	case r.Status == 401 || r.Status == 403:
		e.Kind, e.Reason = KindPermanent, ReasonAuth
	case r.Status == 404:
		e.Kind, e.Reason = KindPermanent, ReasonNotFound
	default:
		e.Kind, e.Reason = KindPermanent, ReasonInvalid
	}
	return e
}

func sortStrings(s []string) []string { slices.Sort(s); return s }
