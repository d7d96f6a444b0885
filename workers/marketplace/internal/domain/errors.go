package domain

import (
	"errors"
	"fmt"
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

// ErrStoreUnusable means the order names a store the worker can never push
// for as it stands: unknown to the catalog, not the order's user's, or
// connected to a marketplace there is no adapter for. It is a permanent
// failure of the push.
var ErrStoreUnusable = errors.New("store unusable")

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
