package domain

import (
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]Outcome{200: OutcomeSucceeded, 204: OutcomeSucceeded, 299: OutcomeSucceeded,
		301: OutcomeRetry, 302: OutcomeRetry, 400: OutcomeRetry, 404: OutcomeRetry, 410: OutcomeDisabled, 500: OutcomeRetry, 0: OutcomeRetry} {
		if got := Classify(status); got != want {
			t.Errorf("%d: %s, want %s", status, got, want)
		}
	}
}

func TestScheduleJitter(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for attempts, d := range DefaultSchedule {
		for range 100 {
			next, ok := DefaultSchedule.Next(attempts+1, now)
			if !ok || next.Sub(now) < d*8/10 || next.Sub(now) > d*12/10 {
				t.Fatalf("attempt %d: %v", attempts+1, next.Sub(now))
			}
		}
	}
	if _, ok := DefaultSchedule.Next(len(DefaultSchedule)+1, now); ok {
		t.Fatal("past the schedule")
	}
}

func TestWants(t *testing.T) {
	t.Parallel()
	e := Endpoint{Status: EndpointActive, EventTypes: []string{"order.paid"}}
	if !e.Wants("order.paid") || e.Wants("order.shipped") {
		t.Fatal("explicit types")
	}
	e.EventTypes = []string{AllTypes}
	if !e.Wants("design.ready") {
		t.Fatal("*")
	}
	e.Status = EndpointDisabled
	if e.Wants("design.ready") {
		t.Fatal("disabled")
	}
	if ValidateEventTypes([]string{"order.nope"}) == nil || ValidateEventTypes(nil) == nil || ValidateEventTypes([]string{"*", "order.paid"}) != nil {
		t.Fatal("validate")
	}
}
