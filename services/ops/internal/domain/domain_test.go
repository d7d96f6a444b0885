package domain

import (
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		from   State
		act    func(*DeadLetter) error
		want   State
		errKnd errs.Kind
		fails  bool
	}{
		{"replay parked", Parked, func(l *DeadLetter) error { return l.Replay("ann", "", at) }, Replayed, 0, false},
		{"replay replayed", Replayed, func(l *DeadLetter) error { return l.Replay("ann", "", at) }, Replayed, errs.FailedPrecondition, true},
		{"replay discarded", Discarded, func(l *DeadLetter) error { return l.Replay("ann", "", at) }, Discarded, errs.FailedPrecondition, true},
		{"discard parked", Parked, func(l *DeadLetter) error { return l.Discard("ann", "bad body", at) }, Discarded, 0, false},
		{"discard without reason", Parked, func(l *DeadLetter) error { return l.Discard("ann", "  ", at) }, Parked, errs.Invalid, true},
		{"discard short reason", Parked, func(l *DeadLetter) error { return l.Discard("ann", "ok", at) }, Parked, errs.Invalid, true},
		{"discard replayed", Replayed, func(l *DeadLetter) error { return l.Discard("ann", "bad body", at) }, Replayed, errs.FailedPrecondition, true},
	}
	for _, tt := range tests {
		l := &DeadLetter{State: tt.from}
		err := tt.act(l)
		if tt.fails != (err != nil) || (tt.fails && errs.KindOf(err) != tt.errKnd) {
			t.Errorf("%s: err = %v (kind %v), want failure %v of kind %v", tt.name, err, errs.KindOf(err), tt.fails, tt.errKnd)
		}
		if l.State != tt.want {
			t.Errorf("%s: state %s, want %s", tt.name, l.State, tt.want)
		}
		if !tt.fails && (l.ResolvedBy != "ann" || !l.ResolvedAt.Equal(at)) {
			t.Errorf("%s: resolution not recorded: %+v", tt.name, l)
		}
	}
}
