package app

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestKeyLocks(t *testing.T) {
	t.Parallel()
	var l keyLocks
	ctx := context.Background()
	release, err := l.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.lock(ctx, "b") // another key is not blocked
	if err != nil {
		t.Fatal(err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := l.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held key: %v", err)
	}
	got := make(chan struct{})
	go func() {
		r, err := l.lock(ctx, "a")
		if err == nil {
			r()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("took a held lock")
	case <-time.After(30 * time.Millisecond):
	}
	release()
	<-got
	if n := l.held(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}
