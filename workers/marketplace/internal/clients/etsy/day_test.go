package etsy

import (
	"testing"
	"time"
)

// The day's places are what Etsy last counted, less the requests sent since
// that answer's request, plus those of ours that left the window since.
func TestDayLogCountsRequestsSentSinceTheAnswer(t *testing.T) {
	d := &dayLog{}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	first := d.reserve(t0)
	second := d.reserve(t0.Add(time.Second)) // in flight when the first is answered
	d.report(2, first, t0)                   // 2 left after the first: the second takes one
	if d.reserve(t0.Add(2*time.Second)) == 0 {
		t.Fatal("one place is left")
	}
	if d.reserve(t0.Add(3*time.Second)) != 0 {
		t.Fatal("a request beyond the day's count was given a place")
	}
	d.report(5, first, t0) // an older answer than the newest says nothing new
	if d.reserve(t0.Add(4*time.Second)) != 0 {
		t.Fatal("a stale answer reopened the day")
	}
	d.report(0, second, t0.Add(time.Second))
	if d.reserve(t0.Add(5*time.Second)) != 0 {
		t.Fatal("no place is left")
	}
	// Etsy counted 0 after the second; the third was sent after it. The first
	// leaving the window frees the place the third took; the second leaving
	// it frees one more.
	if d.reserve(t0.Add(window+500*time.Millisecond)) != 0 {
		t.Fatal("the first request's place went to the third")
	}
	if d.reserve(t0.Add(window+1500*time.Millisecond)) == 0 {
		t.Fatal("the second request left the window: its place is free")
	}
}
