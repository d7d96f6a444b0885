package app

import (
	"context"
	"time"

	"github.com/printfleet/printfleet/services/ops/internal/domain"
)

// Store keeps the dead letters and the audit log.
type Store interface {
	// Park stores l, or parks an existing (queue, message id) again when it
	// was REPLAYED (counting it); a PARKED or DISCARDED one is left as it
	// is. It reports whether anything changed.
	Park(ctx context.Context, l domain.DeadLetter) (bool, error)
	Get(ctx context.Context, id string) (domain.DeadLetter, error)
	List(ctx context.Context, f Filter) ([]domain.DeadLetter, error)
	// CountParked is the PARKED letters by queue.
	CountParked(ctx context.Context) (map[string]int64, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]domain.AuditEntry, error)
	// Act runs one operator action in one transaction. When an entry with
	// a.ActionID exists it returns that entry and false, and does nothing.
	// Otherwise it locks the letters sel picks (a missing single letter is
	// NotFound), calls fn with them, stores the letters fn changed and a
	// with Affected set to their number, and commits.
	Act(ctx context.Context, a domain.AuditEntry, sel Selection, fn func(ctx context.Context, ls []*domain.DeadLetter) error) (domain.AuditEntry, bool, error)
}

// Selection picks the letters of an action: one by id, or every PARKED
// letter of a queue.
type Selection struct {
	ID    string
	Queue string
}

// Filter selects dead letters, newest first, after a keyset position.
type Filter struct {
	Queue     string
	State     domain.State
	OrderID   string
	AfterTime time.Time
	AfterID   string
	Limit     int
}

// AuditFilter selects audit entries, newest first, after a keyset position.
type AuditFilter struct {
	Target    string
	AfterTime time.Time
	AfterID   string
	Limit     int
}

// Replayer publishes dead letters to their queues again (with confirms).
type Replayer interface {
	Replay(ctx context.Context, ls []*domain.DeadLetter) error
}

// Broker reads the depth of queues (-1 when it cannot).
type Broker interface {
	QueueDepth(ctx context.Context, queue string) (int, error)
}
