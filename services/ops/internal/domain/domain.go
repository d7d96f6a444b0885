// Package domain holds the dead letters an operator acts on and the audit
// entries of those actions, with the rules of their states. No proto, no SQL.
package domain

import (
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
)

// State is where a parked dead letter stands.
type State string

// The states.
const (
	Parked    State = "PARKED"
	Replayed  State = "REPLAYED"
	Discarded State = "DISCARDED"
)

// Actions, as the audit log names them.
const (
	ActionReplay      = "dead_letter.replay"
	ActionReplayQueue = "dead_letter.replay_queue"
	ActionDiscard     = "dead_letter.discard"
)

// MinReasonLen is the shortest discard reason accepted.
const MinReasonLen = 3

// DeadLetter is one message a consumer gave up on, parked for an operator.
type DeadLetter struct {
	ID          string
	Queue       string // the consumer queue that failed it
	MessageID   string
	Type        string // the routing key it was published with
	Body        []byte
	ContentType string
	// Headers are the message's own headers (not the broker's, not the
	// failure's), as text; a replay sends them again.
	Headers           map[string]string
	MessageTime       time.Time
	Reason            string
	Attempts          int
	State             State
	TimesDeadLettered int
	DeadLetteredAt    time.Time
	OrderID           string
	ResolvedBy        string
	ResolvedAt        time.Time
	ResolutionReason  string
}

// Replay marks a parked letter replayed by actor.
func (l *DeadLetter) Replay(actor, reason string, at time.Time) error {
	if l.State != Parked {
		return errs.E(errs.FailedPrecondition, "dead letter is %s, not PARKED", l.State)
	}
	l.State, l.ResolvedBy, l.ResolvedAt, l.ResolutionReason = Replayed, actor, at, reason
	return nil
}

// Discard marks a parked letter discarded by actor; the reason is required.
func (l *DeadLetter) Discard(actor, reason string, at time.Time) error {
	if len(strings.TrimSpace(reason)) < MinReasonLen {
		return errs.Field("reason", "a reason of at least 3 characters is required to discard")
	}
	if l.State != Parked {
		return errs.E(errs.FailedPrecondition, "dead letter is %s, not PARKED", l.State)
	}
	l.State, l.ResolvedBy, l.ResolvedAt, l.ResolutionReason = Discarded, actor, at, reason
	return nil
}

// AuditEntry is one operator action: who, what, on what, when, why.
type AuditEntry struct {
	ID        string
	ActionID  string // chosen by the caller; a repeat answers this entry
	Actor     string
	Action    string
	Target    string // a dead letter's id or a queue's name
	Reason    string
	Affected  int
	RequestID string
	CreatedAt time.Time
}
